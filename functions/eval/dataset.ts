/**
 * Labelled evaluation data on disk (`<root>/<identity>/<images>`) and the protocols built on it: LFW-style
 * verification pairs, one-shot open-set identification, and Yale B lighting identification.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FaceprintError } from '../core/errors.ts';

const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|tiff?|bmp|gif|avif|heic|heif|pgm|ppm)$/i;

export interface Identity {
  name: string;
  /** Absolute (or root-joined) image paths, sorted by file name. */
  images: string[];
}

export interface Dataset {
  root: string;
  /** Sorted by name; identities without images are left out. */
  identities: Identity[];
}

function invalid(message: string): FaceprintError {
  return new FaceprintError('INVALID_ARGUMENT', message);
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Scans `<root>/<identity>/<image files>`. Plain files at the root (READMEs, pairs files) and non-image files
 * are ignored; identities and images are sorted by code point, so runs are deterministic across machines.
 *
 * @throws FaceprintError INVALID_ARGUMENT when `root` is not a readable directory.
 */
export function scanDataset(root: string): Dataset {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    throw invalid(`The data folder ${root} does not exist or cannot be read.`);
  }
  const identities: Identity[] = [];
  for (const name of entries.sort(byCodePoint)) {
    const dir = join(root, name);
    if (name.startsWith('.') || !statSync(dir).isDirectory()) continue;
    const images = readdirSync(dir)
      .filter((file) => IMAGE_EXTENSIONS.test(file) && !file.startsWith('.'))
      .sort(byCodePoint)
      .map((file) => join(dir, file));
    if (images.length > 0) identities.push({ name, images });
  }
  return { root, identities };
}

/** A verification pair: two image paths, whether they show the same person, and the fold it belongs to. */
export interface Pair {
  a: string;
  b: string;
  same: boolean;
  fold: number;
}

/**
 * Parses an LFW View-2 style pairs file: `# fold K` lines open fold blocks; `name i j` is a same-person pair,
 * `name1 i name2 j` a different-person pair, images `<root>/<name>/<name>_%04d.jpg`. Other `#` lines and
 * blank lines are comments. The official `pairs.txt` header line (`10 300`) is accepted and folds are then
 * numbered by blocks of 2×300 lines.
 *
 * @throws FaceprintError INVALID_ARGUMENT with the line number of a malformed line.
 */
export function parsePairs(text: string, root: string, extension = 'jpg'): Pair[] {
  const pairs: Pair[] = [];
  const photo = (name: string, index: string, line: number) => {
    const n = Number(index);
    if (!Number.isInteger(n) || n < 1)
      throw invalid(`Pairs file line ${line}: "${index}" is not an image number.`);
    return join(root, name, `${name}_${String(n).padStart(4, '0')}.${extension}`);
  };
  let fold = 0;
  let perFold = 0;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const lineNo = i + 1;
    if (line === '') return;
    if (line.startsWith('#')) {
      const match = /^#\s*fold\s+(\d+)/i.exec(line);
      if (match) fold = Number(match[1]);
      return;
    }
    const parts = line.split(/\s+/);
    if (pairs.length === 0 && parts.length === 2 && parts.every((p) => /^\d+$/.test(p))) {
      // Official header: "<folds> <pairs per class per fold>".
      perFold = Number(parts[1]) * 2;
      return;
    }
    const currentFold = perFold > 0 ? Math.floor(pairs.length / perFold) + 1 : fold;
    if (parts.length === 3) {
      const [name, i1, i2] = parts as [string, string, string];
      pairs.push({ a: photo(name, i1, lineNo), b: photo(name, i2, lineNo), same: true, fold: currentFold });
    } else if (parts.length === 4) {
      const [n1, i1, n2, i2] = parts as [string, string, string, string];
      pairs.push({ a: photo(n1, i1, lineNo), b: photo(n2, i2, lineNo), same: false, fold: currentFold });
    } else {
      throw invalid(
        `Pairs file line ${lineNo}: expected "name i j" or "name1 i name2 j", got ${parts.length} fields.`,
      );
    }
  });
  if (pairs.length === 0) throw invalid('The pairs file holds no pairs.');
  return pairs;
}

/** Reads and parses a pairs file (see {@link parsePairs}). */
export function readPairs(path: string, root: string): Pair[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw invalid(`The pairs file ${path} does not exist or cannot be read.`);
  }
  return parsePairs(text, root);
}

/**
 * The first `limit` pairs, balanced: the first ⌈limit / (2 × folds)⌉ same-person and as many different-person
 * pairs of every fold, so k-fold accuracy still has every fold and both classes. No limit returns all.
 */
export function limitPairs(pairs: readonly Pair[], limit?: number): Pair[] {
  if (limit === undefined || limit <= 0 || limit >= pairs.length) return [...pairs];
  const folds = [...new Set(pairs.map((p) => p.fold))].sort((x, y) => x - y);
  const each = Math.max(1, Math.ceil(limit / (2 * folds.length)));
  const out: Pair[] = [];
  for (const fold of folds) {
    const inFold = pairs.filter((p) => p.fold === fold);
    out.push(...inFold.filter((p) => p.same).slice(0, each), ...inFold.filter((p) => !p.same).slice(0, each));
  }
  return out;
}

/** An identification protocol: enrolled gallery images and labelled probes. */
export interface IdentificationProtocol {
  gallery: { identity: string; image: string }[];
  /** `mated` probes have their identity in the gallery; the others are strangers. */
  probes: { identity: string; image: string; mated: boolean }[];
}

/** Keeps the first `limit` identities (sorted by name); no limit keeps all. */
export function limitIdentities(dataset: Dataset, limit?: number): Dataset {
  if (limit === undefined || limit <= 0) return dataset;
  return { root: dataset.root, identities: dataset.identities.slice(0, limit) };
}

/**
 * One-shot open-set identification (the surveillance case): for every identity with ≥ 2 images, its first
 * image (sorted) is enrolled and every other image is a mated probe; the images of single-image identities are
 * non-mated probes (strangers who must come back "unknown").
 */
export function oneShotProtocol(dataset: Dataset): IdentificationProtocol {
  const gallery: IdentificationProtocol['gallery'] = [];
  const probes: IdentificationProtocol['probes'] = [];
  for (const { name, images } of dataset.identities) {
    const [first, ...rest] = images;
    if (first === undefined) continue;
    if (rest.length === 0) {
      probes.push({ identity: name, image: first, mated: false });
    } else {
      gallery.push({ identity: name, image: first });
      for (const image of rest) probes.push({ identity: name, image, mated: true });
    }
  }
  return { gallery, probes };
}

/** The frontal, frontally-lit Yale B image every subject is enrolled with. */
export const YALE_GALLERY_POSE = '_P00A+000E+00';

/**
 * Extended Yale B lighting protocol: each subject's `_P00A+000E+00` image is the gallery; all its other
 * images (other light directions, and the ambient shot) are mated probes.
 *
 * @throws FaceprintError INVALID_ARGUMENT when a subject has no frontal-light image.
 */
export function lightingProtocol(dataset: Dataset): IdentificationProtocol {
  const gallery: IdentificationProtocol['gallery'] = [];
  const probes: IdentificationProtocol['probes'] = [];
  for (const { name, images } of dataset.identities) {
    const frontal = images.find((image) =>
      basename(image)
        .replace(/\.[^.]+$/, '')
        .endsWith(YALE_GALLERY_POSE),
    );
    if (!frontal) {
      throw invalid(`Subject ${name} has no ${YALE_GALLERY_POSE} image; is this an Extended Yale B folder?`);
    }
    gallery.push({ identity: name, image: frontal });
    for (const image of images) if (image !== frontal) probes.push({ identity: name, image, mated: true });
  }
  return { gallery, probes };
}

/** Brightness buckets of the lighting protocol, by probe mean luma: [lower, upper). */
export const BRIGHTNESS_BUCKETS: readonly { label: string; min: number; max: number }[] = [
  { label: '<10', min: Number.NEGATIVE_INFINITY, max: 10 },
  { label: '10–20', min: 10, max: 20 },
  { label: '20–50', min: 20, max: 50 },
  { label: '≥50', min: 50, max: Number.POSITIVE_INFINITY },
];

/** The label of the brightness bucket a mean luma falls in. */
export function brightnessBucket(meanLuma: number): string {
  const bucket = BRIGHTNESS_BUCKETS.find((b) => meanLuma >= b.min && meanLuma < b.max);
  return (bucket ?? (BRIGHTNESS_BUCKETS[BRIGHTNESS_BUCKETS.length - 1] as { label: string })).label;
}
