/**
 * Realistic vectors for the scale benchmark: real face embeddings of lfw-dev (from the evaluation's embedding
 * cache, `.eval-cache`) plus synthetic identities drawn around them with the measured spread.
 *
 * How the synthetic identities are drawn (all per dimension, on the real 512-d embeddings):
 * - μ: the mean of the real identity centroids (faces share a large common component);
 * - σ_between: the standard deviation of the centroids around μ; σ_within: that of a person's photos around the
 *   person's centroid (people with ≥ 2 photos);
 * - a synthetic identity's centre is μ + 0.6·r_A + 0.6·r_B + 0.53·σ_between⊙g, with r_A, r_B the residuals
 *   (c − μ) of two random real people and g standard normal: it keeps the real correlations between dimensions
 *   and the real between-person variance (0.6² + 0.6² + 0.53² ≈ 1);
 * - a photo of an identity is centre + σ_within⊙g, L2-normalised;
 * - its four enrolment variants (mirror, blur, dark, lowres), with `--variants-from DIR` (a data dir where
 *   `faceprint enroll` enrolled real photos): the photo plus one real enrolment's variant offsets (variant minus
 *   its original, all four from the same real person, drawn per subject), L2-normalised; a real person enrolled
 *   there keeps their own five real templates. Real offsets matter: a real lowres variant sits ~0.75 cosine from
 *   its photo, mirror, dark and blur ~0.95–0.98 (docs/accuracy.md, "Grouped graph nodes"). Without it, the
 *   variants are the photo + 0.5·σ_within⊙g (~0.95 from their photo, every one: closer than real lowres ones).
 * The real people are enrolled with their first photo (plus synthetic variants) and probed with their other
 * photos; the summary printed by the benchmark compares the synthetic and the real intra/inter-person cosines.
 * Every draw is seeded per subject, so each process regenerates the same gallery without storing it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TEMPLATE_VARIANTS, type TemplateVariant } from '../functions/core/domain.ts';
import { rng } from '../test/support/random.ts';

export const DIM = 512;
export const TEMPLATES_PER_SUBJECT = 5;
const VARIANTS: TemplateVariant[] = ['original', 'mirror', 'blur', 'dark', 'lowres'];

export interface RealPerson {
  name: string;
  photos: Float32Array[];
}

export interface Spread {
  mean: Float32Array;
  between: Float32Array;
  within: Float32Array;
  real: RealPerson[];
  /** Real enrolments (`--variants-from`); absent: synthetic variants. */
  enrolled?: RealEnrolments | undefined;
}

/** Real enrolment templates read from a Faceprint data dir: per person, the five variants of their photo. */
export interface RealEnrolments {
  /** Person name → their five templates, in `VARIANTS` order. */
  byName: Map<string, Float32Array[]>;
  /** Per real enrolment, its four variants minus its original (mirror, blur, dark, lowres). */
  offsets: Float32Array[][];
  /** A short digest of the templates read, to key cached ground truth. */
  digest: string;
}

/**
 * Reads the enrolment templates of a Faceprint data dir (`faceprint enroll <root> --first-only` run with
 * `--data-dir DIR`): people with one template of each of the five variants.
 */
export function loadRealEnrolments(dataDir: string): RealEnrolments {
  const db = new Database(join(dataDir, 'faceprint.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(
        'SELECT s.name AS name, t.variant AS variant, t.embedding AS embedding FROM templates t JOIN subjects s ON s.id = t.subject_id ORDER BY s.name, t.seq',
      )
      .all() as { name: string; variant: string; embedding: Buffer }[];
    const sets = new Map<string, Map<string, Float32Array>>();
    for (const r of rows) {
      const v = new Float32Array(
        r.embedding.buffer.slice(r.embedding.byteOffset, r.embedding.byteOffset + r.embedding.byteLength),
      );
      if (v.length !== DIM) continue;
      const set = sets.get(r.name) ?? new Map<string, Float32Array>();
      if (!set.has(r.variant)) set.set(r.variant, normalise(Float32Array.from(v)));
      sets.set(r.name, set);
    }
    const byName = new Map<string, Float32Array[]>();
    const offsets: Float32Array[][] = [];
    const hash = createHash('sha256');
    for (const [name, set] of sets) {
      const templates = VARIANTS.map((v) => set.get(v));
      if (templates.some((t) => t === undefined)) continue;
      const whole = templates as Float32Array[];
      byName.set(name, whole);
      const original = whole[0] as Float32Array;
      offsets.push(whole.slice(1).map((t) => t.map((x, i) => x - (original[i] as number))));
      for (const t of whole) hash.update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
    }
    if (offsets.length < 20)
      throw new Error(
        `${dataDir}: ${offsets.length} people with all five enrolment variants; enrol at least 20 first`,
      );
    return { byName, offsets, digest: hash.digest('hex').slice(0, 12) };
  } finally {
    db.close();
  }
}

function normalise(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] as number) ** 2;
  const k = 1 / Math.sqrt(s);
  for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) * k;
  return v;
}

/** Standard normal draws (Box–Muller) from a uniform generator. */
function gaussian(next: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(1 - next()));
    const t = 2 * Math.PI * next();
    spare = r * Math.sin(t);
    return r * Math.cos(t);
  };
}

/** Reads the real lfw-dev embeddings out of the shared evaluation cache (clean, one-shot). */
export function loadRealPeople(dataDir: string, cacheDir: string): RealPerson[] {
  const lfw = join(dataDir, 'lfw-dev');
  if (!existsSync(lfw) || !existsSync(cacheDir)) return [];
  const byHash = new Map<string, Float32Array>();
  for (const file of readdirSync(cacheDir)) {
    if (!/-clean\.jsonl$/.test(file)) continue;
    for (const line of readFileSync(join(cacheDir, file), 'utf8').split('\n')) {
      if (!line) continue;
      try {
        const c = JSON.parse(line) as { k: string; e: string | null };
        if (!c.e) continue;
        const b = Buffer.from(c.e, 'base64');
        byHash.set(
          c.k.split(':')[0] as string,
          new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)),
        );
      } catch {
        // a line being appended right now
      }
    }
  }
  const people: RealPerson[] = [];
  for (const name of readdirSync(lfw).sort()) {
    const dir = join(lfw, name);
    let files: string[];
    try {
      files = readdirSync(dir)
        .filter((f) => /\.(jpe?g|png)$/i.test(f))
        .sort();
    } catch {
      continue;
    }
    const photos: Float32Array[] = [];
    for (const f of files) {
      const e = byHash.get(
        createHash('sha256')
          .update(readFileSync(join(dir, f)))
          .digest('hex'),
      );
      if (e && e.length === DIM) photos.push(normalise(Float32Array.from(e)));
    }
    if (photos.length > 0) people.push({ name, photos });
  }
  return people;
}

/** Measures μ, σ_between and σ_within on the real people (throws when there are too few to measure). */
export function measureSpread(real: RealPerson[]): Spread {
  const multi = real.filter((p) => p.photos.length >= 2);
  if (real.length < 50 || multi.length < 20) {
    throw new Error(
      `too few real embeddings in the cache (${real.length} people, ${multi.length} with two photos): run faceprint eval on lfw-dev first`,
    );
  }
  const centroids = real.map((p) => {
    const c = new Float32Array(DIM);
    for (const v of p.photos)
      for (let i = 0; i < DIM; i++) c[i] = (c[i] as number) + (v[i] as number) / p.photos.length;
    return c;
  });
  const mean = new Float32Array(DIM);
  for (const c of centroids)
    for (let i = 0; i < DIM; i++) mean[i] = (mean[i] as number) + (c[i] as number) / centroids.length;
  const between = new Float32Array(DIM);
  for (const c of centroids)
    for (let i = 0; i < DIM; i++)
      between[i] = (between[i] as number) + ((c[i] as number) - (mean[i] as number)) ** 2 / centroids.length;
  const within = new Float32Array(DIM);
  let n = 0;
  for (const [pi, p] of real.entries()) {
    if (p.photos.length < 2) continue;
    const c = centroids[pi] as Float32Array;
    const bessel = p.photos.length / (p.photos.length - 1);
    for (const v of p.photos) {
      for (let i = 0; i < DIM; i++)
        within[i] = (within[i] as number) + bessel * ((v[i] as number) - (c[i] as number)) ** 2;
      n++;
    }
  }
  for (let i = 0; i < DIM; i++) {
    between[i] = Math.sqrt(between[i] as number);
    within[i] = Math.sqrt((within[i] as number) / n);
  }
  return { mean, between, within, real };
}

/** The synthetic gallery: subject `s` of `subjects`, deterministic in (seed, s). */
export class Gallery {
  readonly subjects: number;
  constructor(
    readonly spread: Spread,
    rows: number,
    readonly seed: number,
  ) {
    this.subjects = Math.ceil(rows / TEMPLATES_PER_SUBJECT);
  }

  /** Real people enrolled as the first subjects (those with a second photo to probe with). */
  get realEnrolled(): RealPerson[] {
    return this.spread.real.filter((p) => p.photos.length >= 2).slice(0, this.subjects);
  }

  centre(s: number): Float32Array {
    const { mean, between, real } = this.spread;
    const next = rng(this.seed * 1_000_003 + s);
    const g = gaussian(next);
    const a = real[Math.floor(next() * real.length)] as RealPerson;
    const b = real[Math.floor(next() * real.length)] as RealPerson;
    const ca = a.photos[0] as Float32Array;
    const cb = b.photos[0] as Float32Array;
    const c = new Float32Array(DIM);
    for (let i = 0; i < DIM; i++) {
      const m = mean[i] as number;
      c[i] =
        m +
        0.6 * ((ca[i] as number) - m) +
        0.6 * ((cb[i] as number) - m) +
        0.53 * (between[i] as number) * g();
    }
    return c;
  }

  /** A photo of subject `s`: its centre + within-person noise; `photo` picks which one. */
  photo(s: number, photo: number): Float32Array {
    const real = this.realEnrolled[s];
    if (real) return Float32Array.from(real.photos[Math.min(photo, real.photos.length - 1)] as Float32Array);
    const c = this.centre(s);
    const g = gaussian(rng((this.seed * 7 + photo) * 1_000_003 + s));
    const w = this.spread.within;
    for (let i = 0; i < DIM; i++) c[i] = (c[i] as number) + (w[i] as number) * g();
    return normalise(c);
  }

  /** Subject `s`'s enrolment templates: photo 0 and four variants around it. */
  templates(s: number): { variant: TemplateVariant; vector: Float32Array }[] {
    const enrolled = this.spread.enrolled;
    if (enrolled) {
      const real = this.realEnrolled[s];
      const own = real ? enrolled.byName.get(real.name) : undefined;
      if (own)
        return VARIANTS.map((variant, v) => ({ variant, vector: Float32Array.from(own[v] as Float32Array) }));
      const original = this.photo(s, 0);
      const next = rng(this.seed * 37 * 1_000_003 + s);
      const offsets = enrolled.offsets[Math.floor(next() * enrolled.offsets.length)] as Float32Array[];
      return VARIANTS.map((variant, v) => ({
        variant,
        vector:
          v === 0
            ? original
            : normalise(original.map((x, i) => x + ((offsets[v - 1] as Float32Array)[i] as number))),
      }));
    }
    const original = this.photo(s, 0);
    const g = gaussian(rng(this.seed * 31 * 1_000_003 + s));
    const w = this.spread.within;
    return VARIANTS.map((variant, v) => {
      if (v === 0) return { variant, vector: original };
      const x = new Float32Array(DIM);
      for (let i = 0; i < DIM; i++) x[i] = (original[i] as number) + 0.5 * (w[i] as number) * g();
      return { variant: TEMPLATE_VARIANTS.includes(variant) ? variant : 'original', vector: normalise(x) };
    });
  }

  /** Streams the gallery in batches: row-major vectors plus ids. */
  *batches(
    rows: number,
    size = 5_000,
  ): IterableIterator<{
    templateIds: string[];
    subjectIds: string[];
    variants: TemplateVariant[];
    vectors: Float32Array;
  }> {
    let row = 0;
    let s = 0;
    while (row < rows) {
      const templateIds: string[] = [];
      const subjectIds: string[] = [];
      const variants: TemplateVariant[] = [];
      const vectors = new Float32Array(Math.min(size, rows - row) * DIM);
      let n = 0;
      while (n < size && row < rows) {
        for (const t of this.templates(s)) {
          if (n >= size || row >= rows) break;
          templateIds.push(`t${row}`);
          subjectIds.push(`s${s}`);
          variants.push(t.variant);
          vectors.set(t.vector, n * DIM);
          n++;
          row++;
        }
        s++;
      }
      yield { templateIds, subjectIds, variants, vectors: vectors.subarray(0, n * DIM) };
    }
  }

  /**
   * Probes: 40% second photos of the real people, 40% new photos of synthetic enrolled subjects, 20% strangers
   * (identities not in the gallery), in a fixed order.
   */
  queries(count: number): Float32Array[] {
    const next = rng(this.seed + 99);
    // Query q is a stranger exactly when Gallery.isStranger(q): keep the two in step.
    const real = this.realEnrolled;
    const out: Float32Array[] = [];
    for (let q = 0; q < count; q++) {
      const kind = q % 5;
      if (kind < 2 && real.length > 0) {
        const p = real[Math.floor(next() * real.length)] as RealPerson;
        out.push(Float32Array.from(p.photos[1 + Math.floor(next() * (p.photos.length - 1))] as Float32Array));
      } else if (kind < 4) {
        out.push(this.photo(Math.floor(next() * this.subjects), 1 + q));
      } else {
        out.push(this.photo(this.subjects + 1 + q, 1));
      }
    }
    return out;
  }

  /** Whether query `q` of {@link queries} is a stranger (no template in the gallery): every fifth. */
  static isStranger(q: number): boolean {
    return q % 5 === 4;
  }
}

/** Mean cosine of same-person photo pairs and of different-person pairs, for the real and the synthetic sets. */
export function spreadSummary(gallery: Gallery): Record<string, number> {
  const dot = (a: Float32Array, b: Float32Array) => {
    let s = 0;
    for (let i = 0; i < DIM; i++) s += (a[i] as number) * (b[i] as number);
    return s;
  };
  const real = gallery.spread.real.filter((p) => p.photos.length >= 2);
  const next = rng(5);
  let ri = 0;
  let rb = 0;
  let si = 0;
  let sb = 0;
  const n = 400;
  const first = real.length; // synthetic subjects start after the real ones
  for (let i = 0; i < n; i++) {
    const p = real[Math.floor(next() * real.length)] as RealPerson;
    const o = real[Math.floor(next() * real.length)] as RealPerson;
    ri += dot(p.photos[0] as Float32Array, p.photos[1] as Float32Array) / n;
    rb += dot(p.photos[0] as Float32Array, o.photos[0] as Float32Array) / n;
    const s = first + Math.floor(next() * 10_000);
    const t = first + Math.floor(next() * 10_000);
    si += dot(gallery.photo(s, 0), gallery.photo(s, 1)) / n;
    sb += dot(gallery.photo(s, 0), gallery.photo(t, 0)) / n;
  }
  const round = (x: number) => Math.round(x * 1000) / 1000;
  // Each variant's mean cosine to its photo: synthetic subjects, and real enrolments when read.
  const variantToPhoto: Record<string, number> = {};
  for (const [v, variant] of VARIANTS.entries()) {
    if (v === 0) continue;
    let synthetic = 0;
    for (let i = 0; i < 200; i++) {
      const t = gallery.templates(first + 1 + i * 37);
      synthetic += dot(t[0]?.vector as Float32Array, t[v]?.vector as Float32Array) / 200;
    }
    variantToPhoto[`synthetic${variant[0]?.toUpperCase()}${variant.slice(1)}ToPhoto`] = round(synthetic);
    const enrolled = [...(gallery.spread.enrolled?.byName.values() ?? [])];
    if (enrolled.length > 0) {
      const mean =
        enrolled.reduce((sum, t) => sum + dot(t[0] as Float32Array, t[v] as Float32Array), 0) /
        enrolled.length;
      variantToPhoto[`real${variant[0]?.toUpperCase()}${variant.slice(1)}ToPhoto`] = round(mean);
    }
  }
  return {
    ...variantToPhoto,
    realPeople: gallery.spread.real.length,
    realSamePerson: round(ri),
    realDifferentPeople: round(rb),
    syntheticSamePerson: round(si),
    syntheticDifferentPeople: round(sb),
  };
}
