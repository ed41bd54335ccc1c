/**
 * The gallery commands of the CLI: `enroll`, `identify`, `subjects` and their output. They share the local
 * composition, the option parsing and the result printing, which is why they stay in one file past 400 lines.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { CAMERA_NAME_PATTERN, isSubjectId, SUBJECT_ID_PATTERN } from '../../functions/core/domain.ts';
import { ERROR_BLAME, FaceprintError, isFaceprintError } from '../../functions/core/errors.ts';
import { identifyAnnotations } from '../../functions/core/gallery/annotations.ts';
import type { IdentifiedFace, IdentifyResult, SubjectView } from '../../functions/core/gallery/service.ts';
import { annotateImage } from '../../functions/core/pipeline/annotate.ts';
import { type LocalGallery, openLocalGallery } from '../../functions/local/composition.ts';
import { EXIT, intOption, ProgressBar, printJson, readInput, UsageError } from './common.ts';

/** The options every gallery command takes. */
const COMMON = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean', default: false },
  threads: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Files `enroll` reads from a subject's folder (by extension; the content is checked when it is decoded). */
const IMAGE_EXTENSIONS = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.tif',
  '.tiff',
  '.gif',
  '.avif',
  '.heic',
  '.heif',
  '.jp2',
  '.bmp',
]);

/**
 * A subject id from a folder name: accents dropped, anything outside `[A-Za-z0-9_.-]` replaced by `_`, cut to 128
 * characters. A name with no usable character (e.g. in another script) gets a stable id from its hash, so that
 * enrolling the same folder again adds to the same subject.
 */
export function subjectIdFromName(name: string): string {
  const id = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9_.-]+/g, '_')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 128);
  return isSubjectId(id) ? id : `s-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}

/** Opens the data directory's gallery for `work` and closes it afterwards, whatever happens. */
async function withGallery<T>(
  values: { 'data-dir'?: string | undefined; threads?: string | undefined },
  work: (local: LocalGallery) => Promise<T>,
): Promise<T> {
  const local = await openLocalGallery({
    dataDir: values['data-dir'],
    threads: intOption(values.threads, 'threads', 1),
  });
  try {
    return await work(local);
  } finally {
    await local.close();
  }
}

/** Natural order, so that `img_2` comes before `img_10`. */
const natural = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`${path} does not exist.`);
    throw new UsageError(`${path} cannot be read.`);
  }
}

/** A photo `enroll` did not take, and why. */
interface Refusal {
  path: string;
  code: string;
  message: string;
}

interface EnrolledSubject {
  id: string;
  name: string;
  /** False when the subject existed before this run and the photos were added to it. */
  created: boolean;
  photos: number;
  templates: number;
}

const ENROLL_USAGE =
  'Usage: faceprint enroll <root>/<subject>/<images> [--first-only] [--largest]\n' +
  '       faceprint enroll <image> --name NAME [--id ID] [--largest]\n' +
  'Options: --data-dir D, --json, --threads N.';

/**
 * `faceprint enroll <root-of-subject-folders> [--first-only] [--largest]` or
 * `faceprint enroll <image> --name N [--id ID] [--largest]`.
 *
 * A folder of folders enrols one subject per subfolder (id from the folder name, see {@link subjectIdFromName};
 * name = the folder name) with every image in it, or only the first with `--first-only`; a subject whose id
 * exists already gets the photos added. Refused photos (no face, several faces without `--largest`, low quality,
 * unreadable) are listed with their reason and the rest still enrolled. Exit 0 when every photo was enrolled,
 * 4 when some were refused.
 */
export async function enrollCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      ...COMMON,
      name: { type: 'string' },
      id: { type: 'string' },
      largest: { type: 'boolean', default: false },
      'first-only': { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${ENROLL_USAGE}\n`);
    return EXIT.ok;
  }
  const [path, ...extra] = positionals;
  if (!path || extra.length > 0) throw new UsageError(ENROLL_USAGE.split('\n')[0]!);
  if (await isDirectory(path)) {
    if (values.name !== undefined || values.id !== undefined) {
      throw new UsageError(
        '--name and --id are for one image; a folder names its subjects by its subfolders.',
      );
    }
    return enrollFolder(path, values);
  }
  if (values['first-only']) throw new UsageError('--first-only is for a folder of subject folders.');
  if (values.id !== undefined && !isSubjectId(values.id)) {
    throw new UsageError(`--id must match ${SUBJECT_ID_PATTERN.source}, not "${values.id}".`);
  }
  return enrollOne(path, values);
}

async function enrollOne(
  path: string,
  values: {
    name?: string | undefined;
    id?: string | undefined;
    largest: boolean;
    json: boolean;
    'data-dir'?: string | undefined;
    threads?: string | undefined;
  },
): Promise<number> {
  const bytes = await readInput(path);
  return withGallery(values, async ({ gallery, dataDir }) => {
    const existing = values.id === undefined ? undefined : await dataDir.faceStore.getSubject(values.id);
    if (!existing && values.name === undefined) {
      throw new UsageError('--name is required to enrol a new subject.');
    }
    const photo = { bytes, source: basename(path), takeLargest: values.largest };
    let view: SubjectView;
    let before = 0;
    try {
      if (existing) {
        before = await dataDir.faceStore.countTemplates(existing.id);
        view = await gallery.addFace(existing.id, photo);
      } else {
        view = await gallery.createSubject({ id: values.id, name: values.name ?? '' }, photo);
      }
    } catch (error) {
      if (!isFaceprintError(error) || error.code === 'SUBJECT_EXISTS') throw error;
      // A refused photo: one line, and the documented status for a refusal.
      process.stderr.write(`faceprint: ${path}: ${error.message} (${error.code})\n`);
      return EXIT.invalidInput;
    }
    const added = view.templates.length - before;
    if (values.json) printJson({ ...view, created: !existing, added });
    else {
      const who = `${view.name} (id ${view.id})`;
      const nameNote =
        existing && values.name !== undefined && values.name !== existing.name ? `; its name is kept` : '';
      console.log(
        existing
          ? `added ${added} template(s) from ${path} to existing subject ${who}${nameNote}`
          : `enrolled ${who}: ${added} template(s) from ${path}`,
      );
    }
    return EXIT.ok;
  });
}

/** One subject folder: its id, name and image paths. */
interface SubjectFolder {
  folder: string;
  id: string;
  name: string;
  images: string[];
}

async function listSubjectFolders(root: string, firstOnly: boolean): Promise<SubjectFolder[]> {
  const entries = (await readdir(root)).filter((n) => !n.startsWith('.')).sort(natural);
  const folders: SubjectFolder[] = [];
  for (const name of entries) {
    const folder = join(root, name);
    // stat, not the directory entry's type: symlinked folders and photos count.
    if (!(await stat(folder).catch(() => undefined))?.isDirectory()) continue;
    const images: string[] = [];
    for (const file of (await readdir(folder)).filter((n) => !n.startsWith('.')).sort(natural)) {
      if (!IMAGE_EXTENSIONS.has(extname(file).toLowerCase())) continue;
      if ((await stat(join(folder, file)).catch(() => undefined))?.isFile()) images.push(join(folder, file));
    }
    folders.push({
      folder,
      id: subjectIdFromName(name),
      name,
      images: firstOnly ? images.slice(0, 1) : images,
    });
  }
  return folders;
}

async function enrollFolder(
  root: string,
  values: {
    largest: boolean;
    'first-only': boolean;
    json: boolean;
    'data-dir'?: string | undefined;
    threads?: string | undefined;
  },
): Promise<number> {
  const folders = await listSubjectFolders(root, values['first-only']);
  if (folders.length === 0) {
    throw new UsageError(`${root} holds no subject folders; expected ${root}/<subject>/<images>.`);
  }
  const refused: Refusal[] = [];
  const subjects: EnrolledSubject[] = [];
  const total = folders.reduce((n, f) => n + f.images.length, 0);
  await withGallery(values, async ({ gallery, dataDir }) => {
    const bar = new ProgressBar(total, 'enroll');
    const claimedIds = new Map<string, string>();
    for (const { folder, id, name, images } of folders) {
      const clash = claimedIds.get(id);
      if (clash !== undefined) {
        // Two folders that sanitise to one id must not merge two people into one subject.
        refused.push({
          path: folder,
          code: 'SUBJECT_ID_TAKEN',
          message: `${folder} maps to subject id "${id}" like ${clash}; rename one of the folders.`,
        });
        bar.tick(images.length);
        continue;
      }
      claimedIds.set(id, folder);
      if (images.length === 0) {
        refused.push({ path: folder, code: 'NO_IMAGES', message: `${folder} holds no image.` });
        continue;
      }
      const existing = await dataDir.faceStore.getSubject(id);
      const entry: EnrolledSubject = {
        id,
        name: existing?.name ?? name,
        created: false,
        photos: 0,
        templates: 0,
      };
      let known = existing ? await dataDir.faceStore.countTemplates(id) : 0;
      let exists = existing !== undefined;
      for (const image of images) {
        const photo = { source: `${basename(folder)}/${basename(image)}`, takeLargest: values.largest };
        try {
          const bytes = await readFile(image).catch((error: NodeJS.ErrnoException) => {
            throw new FaceprintError(
              'INVALID_IMAGE',
              `${image} cannot be read (${error.code ?? error.message}).`,
            );
          });
          let view: SubjectView;
          if (exists) view = await gallery.addFace(id, { ...photo, bytes });
          else {
            view = await gallery.createSubject({ id, name }, { ...photo, bytes });
            exists = true;
            entry.created = true;
          }
          entry.photos++;
          entry.templates += view.templates.length - known;
          known = view.templates.length;
        } catch (error) {
          if (!isFaceprintError(error)) throw error;
          refused.push({ path: image, code: error.code, message: error.message });
        }
        bar.tick();
      }
      if (entry.photos > 0) subjects.push(entry);
    }
    bar.finish();
  });
  const templates = subjects.reduce((n, s) => n + s.templates, 0);
  const photos = subjects.reduce((n, s) => n + s.photos, 0);
  const created = subjects.filter((s) => s.created).length;
  if (values.json) {
    printJson({
      subjects,
      enrolled: {
        subjects: subjects.length,
        created,
        existing: subjects.length - created,
        photos,
        templates,
      },
      refused,
    });
  } else {
    for (const s of subjects.filter((x) => !x.created)) {
      console.log(
        `  ${s.id}: existing subject "${s.name}"; added ${s.photos} photo(s), ${s.templates} template(s)`,
      );
    }
    console.log(
      `enrolled ${subjects.length} subject(s) (${created} new, ${subjects.length - created} existing): ` +
        `${templates} template(s) from ${photos} photo(s)`,
    );
    if (refused.length > 0) {
      console.log(`refused ${refused.length}:`);
      for (const r of refused) console.log(`  ${r.path}: ${r.message} (${r.code})`);
    }
  }
  return refused.length > 0 ? EXIT.invalidInput : EXIT.ok;
}

const IDENTIFY_USAGE =
  'Usage: faceprint identify <image…> [--camera NAME] [--annotate dir/] [--top-k N] [--data-dir D] [--json] [--threads N]';

function describeDecision(face: IdentifiedFace, index: number): string {
  const { decision, quality } = face;
  const reasons = quality.reasons.length > 0 ? ` [${quality.reasons.join(', ')}]` : '';
  const q = `quality ${quality.score.toFixed(2)}${reasons}${face.enhanced ? ', enhanced' : ''}`;
  const sim = (x: number) => x.toFixed(3);
  const t = sim(decision.threshold);
  const [best, second] = face.candidates;
  const label = (c: { subjectId: string; name?: string | undefined }) =>
    c.name && c.name !== c.subjectId ? `${c.name} (${c.subjectId})` : c.subjectId;
  let what: string;
  if (decision.kind === 'match') {
    what = `match ${label({ subjectId: decision.subjectId ?? '?', name: decision.subjectName })} similarity ${sim(decision.similarity)} ≥ threshold ${t}`;
  } else if (decision.kind === 'insufficient_quality') {
    what = `insufficient quality (${(decision.reasons ?? []).join(', ')}): best ${best ? `${label(best)} ${sim(best.similarity)}` : '—'} < the poor band's threshold ${t}`;
  } else if (decision.kind === 'ambiguous') {
    const runnerUp = second ? ` / ${label(second)} ${sim(second.similarity)}` : '';
    what = `ambiguous: ${best ? `${label(best)} ${sim(best.similarity)}` : '?'}${runnerUp} within margin ${decision.margin} (threshold ${t})`;
  } else {
    what = best
      ? `unknown: best ${label(best)} similarity ${sim(best.similarity)} < threshold ${t}`
      : `unknown: the gallery is empty (threshold ${t})`;
  }
  const camera = decision.camera
    ? `, camera ${decision.camera.id} (${decision.camera.templates} templates${decision.camera.bestIsCameraTemplate ? ', best was a camera template' : ''})`
    : '';
  return `#${index + 1} ${what}, ${q}${camera}`;
}

/**
 * `faceprint identify <image…> [--annotate dir/] [--top-k N]`: every face of every image with its open-set
 * decision (match with similarity and threshold, unknown with the best similarity, ambiguous) and quality, each
 * recorded in the audit log. `--json` prints the IdentifyResult (with `image`), or an array of them for several
 * images. An image that cannot be read is reported in one line on stderr and the others still identified.
 * Exit 0; 3 when no image held a face; 4 when some image was refused.
 */
export async function identifyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      ...COMMON,
      annotate: { type: 'string' },
      'top-k': { type: 'string' },
      camera: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(`${IDENTIFY_USAGE}\n`);
    return EXIT.ok;
  }
  if (positionals.length === 0) throw new UsageError(IDENTIFY_USAGE);
  const topK = values['top-k'] === undefined ? undefined : intOption(values['top-k'], 'top-k', 0);
  if (topK === 0) throw new UsageError('--top-k must be at least 1.');
  const camera = values.camera;
  if (camera !== undefined && !CAMERA_NAME_PATTERN.test(camera))
    throw new UsageError(
      '--camera must be 1–64 letters, digits, "_", "." or "-", starting with a letter or digit.',
    );
  const annotateDir = values.annotate;
  if (annotateDir) await mkdir(annotateDir, { recursive: true });
  return withGallery(values, async ({ gallery }) => {
    const results: (IdentifyResult & { image: string; annotated?: string })[] = [];
    const written = new Set<string>();
    let refused = 0;
    let operatorFailures = 0;
    for (const path of positionals) {
      let result: IdentifyResult;
      let bytes: Buffer;
      try {
        bytes = await readInput(path);
        result = await gallery.identify(bytes, {
          source: path,
          operation: 'identify',
          ...(topK ? { topK } : {}),
          ...(camera ? { camera } : {}),
        });
      } catch (error) {
        if (error instanceof UsageError) process.stderr.write(`faceprint: ${error.message}\n`);
        else if (isFaceprintError(error)) {
          process.stderr.write(`faceprint: ${path}: ${error.message} (${error.code})\n`);
          // A broken installation or an unsearchable gallery is the operator's, as the error table says.
          if (ERROR_BLAME[error.code] === 'operator') operatorFailures++;
        } else throw error;
        refused++;
        continue;
      }
      let annotated: string | undefined;
      if (annotateDir) {
        const name = basename(path);
        for (let n = 0; !annotated || written.has(annotated); n++) {
          annotated = join(annotateDir, `${n === 0 ? name : `${name}-${n}`}.annotated.jpg`);
        }
        written.add(annotated);
        await writeFile(annotated, await annotateImage(bytes, identifyAnnotations(result.faces)));
      }
      results.push({ image: path, ...result, ...(annotated ? { annotated } : {}) });
      if (!values.json) {
        console.log(`${path}: ${result.width}×${result.height}, ${result.faces.length} face(s)`);
        for (const [i, face] of result.faces.entries()) console.log(`  ${describeDecision(face, i)}`);
        if (annotated) console.log(`  annotated image written to ${annotated}`);
      }
    }
    if (values.json && results.length > 0)
      printJson(results.length === 1 && positionals.length === 1 ? results[0] : results);
    if (operatorFailures > 0) return EXIT.operator;
    if (refused > 0) return EXIT.invalidInput;
    return results.some((r) => r.faces.length > 0) ? EXIT.ok : EXIT.noFace;
  });
}

const SUBJECTS_USAGE =
  'Usage: faceprint subjects list [--limit N] [--cursor C] | subjects show <id> | subjects delete <id>\n' +
  'Options: --data-dir D, --json.';

/**
 * `faceprint subjects list [--limit N] [--cursor C]`, `subjects show <id>`, `subjects delete <id>`. An unknown id
 * ends with one line on stderr and exit 4.
 */
export async function subjectsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { ...COMMON, limit: { type: 'string' }, cursor: { type: 'string' } },
  });
  if (values.help) {
    process.stdout.write(`${SUBJECTS_USAGE}\n`);
    return EXIT.ok;
  }
  const [action, id, ...extra] = positionals;
  const usage = () => new UsageError(SUBJECTS_USAGE.split('\n')[0]!);
  if (extra.length > 0) throw usage();
  if (action === 'list') {
    if (id !== undefined) throw usage();
    const limit = intOption(values.limit, 'limit', 100);
    if (limit === 0) throw new UsageError('--limit must be at least 1.');
    return withGallery(values, async ({ gallery, dataDir }) => {
      const page = await gallery.listSubjects(limit, values.cursor);
      const items = await Promise.all(
        page.items.map(async (s) => ({ ...s, templates: await dataDir.faceStore.countTemplates(s.id) })),
      );
      if (values.json) printJson({ items, nextCursor: page.nextCursor });
      else {
        for (const s of items) console.log(`${s.id}\t${s.name}\t${s.templates} template(s)\t${s.createdAt}`);
        if (items.length === 0) console.log('no subjects');
        if (page.nextCursor) console.log(`more: faceprint subjects list --cursor ${page.nextCursor}`);
      }
      return EXIT.ok;
    });
  }
  if (action !== 'show' && action !== 'delete') throw usage();
  if (id === undefined) throw usage();
  if (values.limit !== undefined || values.cursor !== undefined) {
    throw new UsageError('--limit and --cursor are for `subjects list`.');
  }
  return withGallery(values, async ({ gallery }) => {
    if (action === 'show') {
      const subject = await gallery.getSubject(id);
      if (values.json) printJson(subject);
      else {
        console.log(
          `${subject.name} (id ${subject.id}), enrolled ${subject.createdAt}, ${subject.templates.length} template(s)`,
        );
        for (const [k, v] of Object.entries(subject.metadata)) console.log(`  ${k}: ${v}`);
        for (const t of subject.templates) {
          console.log(
            `  ${t.variant.padEnd(8)} ${t.source}  quality ${t.quality.score.toFixed(2)}  ${t.createdAt}`,
          );
        }
      }
    } else {
      const report = await gallery.deleteSubject(id);
      if (values.json) printJson({ deleted: id, erased: report });
      else {
        console.log(`deleted subject ${id}`);
        console.log(`  ${report.templates} template(s) (embeddings) erased`);
        console.log(
          `  ${report.auditRowsRedacted} audit row(s) rewritten without the subject (decisions kept)`,
        );
        console.log(`  ${report.filesRemoved.length} result file(s) removed${list(report.filesRemoved)}`);
        console.log(`  ${report.filesRedacted.length} result file(s) rewritten${list(report.filesRedacted)}`);
        console.log(`  ${report.ledgerRows} ingest-ledger row(s) removed`);
        console.log(
          report.storageCompacted
            ? '  database pages overwritten (secure_delete) and write-ahead log emptied'
            : '  database pages overwritten (secure_delete); the write-ahead log is emptied when the other process using it lets go',
        );
      }
    }
    return EXIT.ok;
  });
}

function list(paths: string[]): string {
  return paths.length > 0 ? `: ${paths.join(', ')}` : '';
}
