import { parseArgs } from 'node:util';
import { FacePipeline } from '../functions/core/pipeline/pipeline.ts';
import { calibrateCommand } from './cli/calibrate-command.ts';
import { EXIT, intOption, numberOption, reportError, UsageError } from './cli/common.ts';
import { takeModelPackOption } from './cli/model-pack-option.ts';
import { compareCommand, detectCommand, embedCommand } from './cli/pipeline-commands.ts';

const HELP = `faceprint: face identification for dark, blurry surveillance images

Usage: faceprint <command> [options]

Face pipeline
  detect <image> [--annotate out.png]   every face: box, landmarks, quality (drawn with --annotate)
  embed <image>                          every face's 512-d embedding, as JSON
  compare <a> <b> [--threshold T]        similarity of the two largest faces; same/different
  pose <image> --out <dir>               the pose-synthesised views of the main face as PNGs + contact sheet

Gallery (in --data-dir D, default FACEPRINT_DATA_DIR or ./.faceprint)
  enroll <root> [--first-only] [--largest]
                                         one subject per subfolder of <root>, with its images
  enroll <image> --name N [--id ID] [--largest]
                                         one photo: a new subject, or added to subject ID
  identify <image…> [--camera NAME] [--annotate dir/] [--top-k N]
                                         every face: match, unknown, ambiguous or insufficient_quality
  camera estimate <image…>               a camera's profile: brightness, noise, blur, JPEG quality, face size
  camera add <id> [<image…>] [--brightness B --noise S --blur S --jpeg-quality Q --iod PX]
                                         configure a camera (estimated from its images, or given) and backfill
                                         its camera-matched templates; camera list | show | backfill | remove
  subjects list [--limit N] [--cursor C] | subjects show <id> | subjects delete <id>
  gallery reembed                        re-embed every kept enrolment photo with the selected --model-pack
                                         (resumable, with progress; old templates kept until it completes)
  calibrate --data <root> [--fpir 0.01] [--out file]
                                         thresholds for a target false-positive identification rate

Video (FFmpeg: apt-get install ffmpeg, or FACEPRINT_FFMPEG=/path/to/ffmpeg)
  video <file|url|folder> [--annotate out.mp4] [--json|--ndjson] [--every N]
                                         one decision per person seen, with progress and a summary table
  watch <rtsp://…|http://…> [--retries N] [--ndjson]
                                         a live camera: decisions as they happen, reconnecting with backoff

Evaluation
  eval --data <root> --protocol pairs|one-shot|lighting [--degrade dark:0.25+blur:2] [--limit N] [--out dir]
                                         accuracy on your own labelled photos (report with plots)

Unknown faces
  cluster <folder> [--method dbscan|chinese-whispers|hdbscan] [--out dir]
                                         group the faces of a photo collection; contact sheets, JSON, CSV
  unknowns list [--sort recent|frequent] | show <id> | promote <id> --name N | merge <id> --into <id>
           | split <id> <sighting…> | delete <id> | purge
                                         faces seen again that match nobody (kept 30 days)
  review list [--status pending] | show <id> | confirm <id> | reject <id> [--note T] [--reviewer R]
  calibrate --from-reviews [--max-rejected 0] [--out file]
                                         the threshold refit from reviewers' verdicts

Server
  serve [--port N] [--host H] [--data-dir D] [--api-key K]
                                         the HTTP API (OpenAPI document at /openapi.json) until Ctrl-C

Options
  --json            machine-readable output
  --threads N       ONNX Runtime threads per model (default 1; 0 = all cores)
  -h, --help        this help

Exit status: 0 ok, 1 internal error, 2 bad command line, 3 no usable face, 4 input refused,
5 compare: different people.
`;

/** Commands that parse their own options. */
const SELF_PARSING: Record<string, (argv: string[]) => Promise<number>> = {
  calibrate: async (argv) =>
    argv.includes('--from-reviews')
      ? (await import('./cli/follow-up-commands.ts')).calibrateFromReviewsCommand(argv)
      : calibrateCommand(argv),
  unknowns: async (argv) => (await import('./cli/follow-up-commands.ts')).unknownsCommand(argv),
  review: async (argv) => (await import('./cli/follow-up-commands.ts')).reviewCommand(argv),
  // Loaded on demand too: the pipeline commands need not open a database.
  enroll: async (argv) => (await import('./cli/gallery-commands.ts')).enrollCommand(argv),
  identify: async (argv) => (await import('./cli/gallery-commands.ts')).identifyCommand(argv),
  subjects: async (argv) => (await import('./cli/gallery-commands.ts')).subjectsCommand(argv),
  gallery: async (argv) => (await import('./cli/reembed-command.ts')).galleryCommand(argv),
  // Loaded on demand: the other commands need not load the HTTP stack.
  serve: async (argv) => (await import('./cli/serve-command.ts')).serveCommand(argv),
  eval: async (argv) => (await import('./cli/eval-command.ts')).evalCommand(argv),
  cluster: async (argv) => (await import('./cli/cluster-command.ts')).clusterCommand(argv),
  camera: async (argv) => (await import('./cli/camera-command.ts')).cameraCommand(argv),
  video: async (argv) => (await import('./cli/video-command.ts')).videoCommand(argv),
  watch: async (argv) => (await import('./cli/video-command.ts')).watchCommand(argv),
  pose: async (argv) => (await import('./cli/pose-command.ts')).poseCommand(argv),
};

async function main(argv: string[]): Promise<number> {
  const own = argv[0] ? SELF_PARSING[argv[0]] : undefined;
  if (own) return own(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      threads: { type: 'string' },
      annotate: { type: 'string' },
      threshold: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    process.stdout.write(HELP);
    return command || values.help ? EXIT.ok : EXIT.usage;
  }
  let pipeline: FacePipeline | undefined;
  const threads = intOption(values.threads, 'threads', 1);
  const ctx = {
    json: values.json,
    pipeline: () => {
      pipeline ??= new FacePipeline({ threads });
      return pipeline;
    },
  };
  try {
    switch (command) {
      case 'detect':
        return await detectCommand(ctx, args, values.annotate);
      case 'embed':
        return await embedCommand(ctx, args);
      case 'compare': {
        const threshold =
          values.threshold === undefined ? undefined : numberOption(values.threshold, 'threshold', 0);
        return await compareCommand(ctx, args, threshold);
      }
      default:
        throw new UsageError(`Unknown command "${command}"; run \`faceprint --help\` for the list.`);
    }
  } finally {
    await pipeline?.dispose();
  }
}

// `faceprint … | head` closes the pipe early: stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

try {
  process.exitCode = await main(takeModelPackOption(process.argv.slice(2)));
} catch (error) {
  // parseArgs reports unknown options as TypeErrors with an ERR_PARSE_ARGS_* code: a usage error.
  const code = (error as NodeJS.ErrnoException).code;
  process.exitCode = reportError(
    code?.startsWith('ERR_PARSE_ARGS') ? new UsageError((error as Error).message) : error,
  );
}
