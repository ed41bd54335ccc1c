import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { refitFromReviews } from '../../functions/core/review/service.ts';
import { openLocalGallery } from '../../functions/local/composition.ts';
import { EXIT, intOption, numberOption, printJson, UsageError } from './common.ts';

const OPTIONS = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean', default: false },
  sort: { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  into: { type: 'string' },
  name: { type: 'string' },
  id: { type: 'string' },
  note: { type: 'string' },
  reviewer: { type: 'string' },
  out: { type: 'string' },
  'max-rejected': { type: 'string' },
  'from-reviews': { type: 'boolean', default: false },
} as const;

const UNKNOWNS_USAGE =
  'Usage: faceprint unknowns list [--sort recent|frequent] | show <id> | promote <id> --name N [--id ID] | merge <id> --into <id> | split <id> <sighting…> | delete <id> | purge';
const REVIEW_USAGE =
  'Usage: faceprint review list [--status pending|confirmed|rejected] | show <id> | confirm <id> | reject <id> [--note T] [--reviewer R]';

function parse(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
}

/** `faceprint unknowns …`: unknown persons in the local data directory. */
export async function unknownsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  const [action, id, ...rest] = positionals;
  const local = await openLocalGallery({ dataDir: values['data-dir'] });
  try {
    const { unknowns } = local.followUp;
    const need = () => {
      if (!id) throw new UsageError(UNKNOWNS_USAGE);
      return id;
    };
    let out: unknown;
    switch (action) {
      case 'list': {
        const sort = values.sort ?? 'recent';
        if (sort !== 'recent' && sort !== 'frequent')
          throw new UsageError('--sort must be recent or frequent.');
        const page = await unknowns.list(sort, intOption(values.limit, 'limit', 50) || 50);
        if (!values.json) {
          for (const p of page.items)
            console.log(`${p.id}  ${p.sightingCount} sighting(s), last seen ${p.lastSeenAt}`);
          if (page.items.length === 0) console.log('no unknown person yet');
          return EXIT.ok;
        }
        out = page;
        break;
      }
      case 'show':
        out = await unknowns.show(need());
        break;
      case 'promote':
        if (!values.name) throw new UsageError('promote needs --name.');
        out = await local.followUp.promote(need(), { name: values.name, id: values.id });
        break;
      case 'merge':
        if (!values.into) throw new UsageError('merge needs --into <id>.');
        out = await unknowns.merge(need(), values.into);
        break;
      case 'split':
        out = await unknowns.split(need(), rest);
        break;
      case 'delete':
        await unknowns.delete(need());
        out = { deleted: id };
        break;
      case 'purge':
        out = await unknowns.purgeExpired();
        break;
      default:
        throw new UsageError(UNKNOWNS_USAGE);
    }
    printJson(out);
    return EXIT.ok;
  } finally {
    await local.close();
  }
}

/** `faceprint review …`: the review queue in the local data directory. */
export async function reviewCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  const [action, id] = positionals;
  const local = await openLocalGallery({ dataDir: values['data-dir'] });
  try {
    const { reviews } = local.followUp;
    let out: unknown;
    switch (action) {
      case 'list': {
        const status = values.status;
        if (status !== undefined && !['pending', 'confirmed', 'rejected'].includes(status)) {
          throw new UsageError('--status must be pending, confirmed or rejected.');
        }
        const page = await reviews.list(status as never, intOption(values.limit, 'limit', 50) || 50);
        if (!values.json) {
          for (const r of page.items) {
            console.log(
              `${r.id}  ${r.status}  ${r.decision.kind} ${r.decision.subjectName ?? r.decision.subjectId} ${r.decision.similarity.toFixed(3)} ≥ ${r.decision.threshold.toFixed(3)}  ${r.source}`,
            );
          }
          if (page.items.length === 0) console.log('no review');
          return EXIT.ok;
        }
        out = page;
        break;
      }
      case 'show':
        if (!id) throw new UsageError(REVIEW_USAGE);
        out = await reviews.get(id);
        break;
      case 'confirm':
      case 'reject':
        if (!id) throw new UsageError(REVIEW_USAGE);
        out = await reviews.settle(
          id,
          { verdict: action, note: values.note, reviewer: values.reviewer ?? process.env.USER },
          local.gallery.model,
        );
        break;
      default:
        throw new UsageError(REVIEW_USAGE);
    }
    printJson(out);
    return EXIT.ok;
  } finally {
    await local.close();
  }
}

/** `faceprint calibrate --from-reviews [--max-rejected 0] [--out file]`: the threshold refit from verdicts. */
export async function calibrateFromReviewsCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv);
  const share = numberOption(values['max-rejected'], 'max-rejected', 0);
  if (share < 0 || share >= 1) throw new UsageError('--max-rejected must be in [0, 1).');
  const local = await openLocalGallery({ dataDir: values['data-dir'] });
  try {
    const reviewed = [];
    for (const status of ['confirmed', 'rejected'] as const) {
      let cursor: string | undefined;
      do {
        const page = await local.followUp.reviews.list(status, 500, cursor);
        reviewed.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
    }
    const refit = refitFromReviews(local.gallery.config.calibration, reviewed, share);
    const out = values.out ?? 'calibration.json';
    await writeFile(out, `${JSON.stringify(refit.calibration, null, 2)}\n`);
    if (values.json) printJson(refit);
    else {
      console.log(
        `threshold ${refit.calibration.threshold} from ${refit.confirmed} confirmed and ${refit.rejected} rejected matches ` +
          `(keeps ${(refit.confirmedKept * 100).toFixed(1)}% of confirmed, ${(refit.rejectedKept * 100).toFixed(1)}% of rejected); written to ${out}`,
      );
    }
    return EXIT.ok;
  } finally {
    await local.close();
  }
}
