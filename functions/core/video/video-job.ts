/**
 * The video workflow: frames → faces (with a fast path for consecutive frames) → tracks → one decision per
 * track, with track events as they happen. The same code serves files, live streams, the CLI, the local server
 * and AWS Batch; the frame source, the gallery and the event sinks are ports.
 */

import type { RawDetection } from '../pipeline/detect.ts';
import type { RgbImage } from '../pipeline/image.ts';
import {
  type AnalyzeOptions,
  type AnalyzeOptionsInput,
  EMBEDDING_MODEL,
  type FacePipeline,
  type FaceWithCrops,
  resolveOptions,
  roundBox,
  type Stage,
} from '../pipeline/pipeline.ts';
import type { Box } from '../types.ts';
import { drawTrackBoxes } from './draw.ts';
import type { TrackEvent, TrackEventSink, TrackEventType } from './events.ts';
import { fastMinFaceSize, sceneChanged, searchAroundTracks, thumbnailOf } from './fast-path.ts';
import type { FrameSource, VideoInfo } from './frames.ts';
import {
  type Aggregation,
  type IdentityMatcher,
  type TrackDecision,
  TrackEvidence,
} from './track-evidence.ts';
import { FaceTracker, type TrackedObject, type TrackerOptions } from './tracker.ts';
import type { TrackSummary, VideoProgress, VideoResult, VideoStage } from './video-types.ts';

export interface VideoJobOptions {
  analyze?: AnalyzeOptionsInput;
  tracker?: Partial<TrackerOptions>;
  /** Faces kept per track for its decision. */
  bestK?: number;
  aggregation?: Aggregation;
  /**
   * Visit every fine-pyramid tile (and run BlazeFace on the whole frame) once every this many frames (default:
   * one second of video, at least 10 frames); 1 = every frame. With `rollingScan` the tiles are spread over those frames, otherwise one frame in this many runs the
   * whole pyramid. The first frame and a scene change always get the complete detector.
   */
  fullScanEvery?: number;
  /**
   * Spread the fine tiles over `fullScanEvery` frames instead of scanning them all on one frame: no frame pays
   * for the whole pyramid (steadier latency for a live camera), but measured at 1–4 ms more CPU per 720p frame
   * (the level is resized on more frames), so it is off by default.
   */
  rollingScan?: boolean;
  /**
   * Once a track holds its best-K faces, describe (landmarks, alignment, pose, quality) its face in one frame of
   * this many; 1 = every frame.
   */
  describeEvery?: number;
  /** Candidates kept per decision. */
  topK?: number;
  /** Called after every frame (cheap: the CLI throttles its own drawing). */
  onProgress?: (progress: VideoProgress) => void;
  /** Receives each frame with the tracks drawn on it (the annotated video). */
  annotate?: AnnotatedFrameSink | undefined;
  /** Stops the job at the next frame (a partial result, `reason` says so). */
  signal?: AbortSignal | undefined;
}

/** Where annotated frames go (an FFmpeg encoder in practice). */
export interface AnnotatedFrameSink {
  start(info: VideoInfo): Promise<void>;
  write(frame: RgbImage): Promise<void>;
  close(): Promise<void>;
}

export interface VideoJobDeps {
  pipeline: FacePipeline;
  matcher: IdentityMatcher;
  events?: TrackEventSink[] | undefined;
  now?: () => Date;
}

interface TrackRecord {
  object: TrackedObject;
  evidence: TrackEvidence;
  decision: TrackDecision | undefined;
  decisions: number;
  embedded: number;
  /** The last frame this track's face was described (landmarks, quality) in. */
  describedFrame: number;
  started: boolean;
  firstMs: number;
  lastMs: number;
  dirty: boolean;
}

/** See {@link VideoJobOptions.describeEvery}. */
const DESCRIBE_EVERY = 3;

/** A face of the current frame: detected, and described once something needs its landmarks or quality. */
interface FrameFace {
  box: Box;
  score: number;
  detection?: RawDetection;
  face?: FaceWithCrops;
}

/** Milliseconds spent describing faces so far in a frame's stage times. */
function describedMs(t: Record<Stage, number>): number {
  return t.landmarks + t.align + t.quality + t.enhance;
}

/** Best aligned crops of a finished job, for thumbnails: track id → crops, best first. */
export type TrackCrops = Map<number, RgbImage[]>;

function zeroTimings(): Record<VideoStage, number> {
  return {
    decode: 0,
    detect: 0,
    landmarks: 0,
    align: 0,
    quality: 0,
    enhance: 0,
    embed: 0,
    track: 0,
    decide: 0,
    annotate: 0,
  };
}

/**
 * The analysis options of a video's frames: the caller's, with the head pose from the landmarks instead of the
 * pose model, crops kept for the tracks, embeddings left to the track step, and no second look on a face-less
 * frame unless the caller asks for one. Stills look again (the default); most frames of a camera show no one, a
 * second pass on each would cost the frame rate, and a face missed in one frame is found in the next.
 */
export function videoAnalyzeOptions(input: AnalyzeOptionsInput = {}): AnalyzeOptions {
  return resolveOptions({
    pose: false,
    landmarkPose: true,
    // Deconvolving a blurred face costs tens of milliseconds, paid at every description of it: a track's sharper
    // frames carry its identity instead (its best faces are chosen by quality).
    deblur: undefined,
    ...input,
    detect: { secondLook: undefined, ...input.detect },
    keepCrops: true,
    embed: false,
  });
}

/**
 * Runs one video through detection, tracking and per-track decisions.
 *
 * @returns Every confirmed track with its decision and evidence; `complete: false` with a reason when the source
 *   ended early (truncated file, dropped stream, aborted).
 * @throws FaceprintError when the source cannot be opened at all (see the frame source).
 */
export async function processVideo(
  source: FrameSource,
  deps: VideoJobDeps,
  label: string,
  options: VideoJobOptions = {},
): Promise<{ result: VideoResult; crops: TrackCrops }> {
  const now = deps.now ?? (() => new Date());
  const analyze = videoAnalyzeOptions(options.analyze);
  const bestK = options.bestK ?? 5;
  const aggregation = options.aggregation ?? 'quality-mean';
  const describeEvery = Math.max(1, options.describeEvery ?? DESCRIBE_EVERY);
  const topK = options.topK ?? 5;
  const tracker = new FaceTracker(options.tracker);
  const timings = zeroTimings();
  const records = new Map<number, TrackRecord>();
  const finished: TrackRecord[] = [];
  const started = performance.now();
  let frames = 0;
  let lastMs = 0;
  let fullScans = 0;
  let previousThumb: Uint8Array | undefined;

  const info = await source.open();
  // Once a second of video by default (at least every 10 frames): a new face too small or too dark for the
  // whole-frame pass is found within a second; each round of the fine tiles costs 13 ULFD runs at 720p.
  const fullEvery = Math.max(1, options.fullScanEvery ?? Math.max(10, Math.round(info.fps || 10)));
  const fastMin = Math.max(analyze.detect.minFaceSize, fastMinFaceSize(info.width, info.height));
  // Between full scans: the whole-frame ULFD pass only (no tiles, no BlazeFace, no padded second look), ~10 ms
  // less per frame; a track this pass misses (dark, blurred, small) is looked for by the full detector in a window
  // around it, so faces only BlazeFace sees keep their tracks and get born from a full scan.
  const fastAnalyze = {
    ...analyze,
    detect: { ...analyze.detect, detector: 'ulfd' as const, minFaceSize: fastMin, searchPadded: false },
  };
  // A rolling scan: each frame also runs its slice of the fine tiles (and BlazeFace on the whole frame once per
  // round), so every tile is visited once every `fullEvery` frames without a frame that pays for all of them.
  const rolling = options.rollingScan ?? false;
  const rollingAnalyze = (index: number) => ({
    ...analyze,
    detect: {
      ...analyze.detect,
      detector: index === 0 ? analyze.detect.detector : ('ulfd' as const),
      searchPadded: false,
      tileSlice: { index, count: fullEvery },
    },
  });
  await options.annotate?.start(info);

  const emit = async (events: TrackEvent[]) => {
    if (events.length === 0 || !deps.events) return;
    await Promise.all(deps.events.map((sink) => sink.publish(events)));
  };
  const event = (
    type: TrackEventType,
    r: TrackRecord,
    frameIndex: number,
    timestampMs: number,
    extra: Partial<TrackEvent> = {},
  ): TrackEvent => ({
    type,
    at: now().toISOString(),
    source: label,
    trackId: r.object.id,
    frameIndex,
    timestampMs,
    decision: r.decision,
    ...extra,
  });

  const iterator = source.frames()[Symbol.asyncIterator]();
  let aborted = false;
  try {
    for (;;) {
      if (options.signal?.aborted) {
        aborted = true;
        break;
      }
      let t = performance.now();
      const next = await iterator.next();
      timings.decode += performance.now() - t;
      if (next.done) break;
      const frame = next.value;
      frames++;
      lastMs = frame.timestampMs;

      // Detection: the whole frame always; the fine pyramid every N frames or on a scene change; otherwise fine
      // detection only around the tracks' predicted boxes.
      const thumb = thumbnailOf(frame.image);
      const changed = previousThumb !== undefined && sceneChanged(previousThumb, thumb);
      const full = rolling
        ? previousThumb === undefined || changed
        : frame.index % fullEvery === 0 || changed;
      previousThumb = thumb;
      if (full) fullScans++;
      const stageTimes: Record<Stage, number> = {
        decode: 0,
        detect: 0,
        landmarks: 0,
        align: 0,
        quality: 0,
        enhance: 0,
        embed: 0,
      };
      // Faces are detected here and described (landmarks, alignment, pose, quality) only where needed: for a
      // track whose best-K is full, one frame in `describeEvery` (consecutive frames of a face differ in quality
      // by noise), and whenever the tracker wants an embedding to re-link a track.
      const detections = await deps.pipeline.detectImage(
        frame.image,
        full ? analyze : rolling ? rollingAnalyze(frame.index % fullEvery) : fastAnalyze,
        stageTimes,
      );
      const faces: FrameFace[] = detections.map((detection) => ({
        box: roundBox(detection.box),
        score: Math.round(detection.score * 10_000) / 10_000,
        detection,
      }));
      if (!full) {
        const expected = tracker
          .active()
          .filter(
            (t) => t.missed <= fullEvery && (t.state !== 'tentative' || t.lastFrame === frame.index - 1),
          )
          .map((t) => t.box);
        if (expected.length > 0) {
          const extra = await searchAroundTracks(
            deps.pipeline,
            frame.image,
            expected,
            faces.map((f) => f.box),
            analyze,
            stageTimes,
          );
          for (const face of extra) faces.push({ box: face.box, score: face.score, face });
        }
      }
      const describe = async (i: number): Promise<FaceWithCrops | undefined> => {
        const entry = faces[i];
        if (!entry) return undefined;
        if (!entry.face && entry.detection)
          [entry.face] = await deps.pipeline.describeFaces(
            frame.image,
            [entry.detection],
            analyze,
            stageTimes,
          );
        return entry.face;
      };

      // Embeddings on demand: only for faces that can re-link a track or improve its best-K.
      const embeddings = new Map<number, Float32Array>();
      const embedOf = async (i: number): Promise<Float32Array | undefined> => {
        const known = embeddings.get(i);
        if (known) return known;
        const crop = (await describe(i))?.crops?.embedded;
        if (!crop) return undefined;
        const e0 = performance.now();
        const [vector] = await deps.pipeline.embedCrops([crop], analyze.flip);
        timings.embed += performance.now() - e0;
        if (vector) embeddings.set(i, vector);
        return vector;
      };

      t = performance.now();
      const embedBefore = timings.embed;
      const describedBefore = describedMs(stageTimes);
      const update = await tracker.update(
        frame.index,
        faces.map((f) => ({ box: f.box, score: f.score })),
        embedOf,
      );
      timings.track +=
        performance.now() - t - (timings.embed - embedBefore) - (describedMs(stageTimes) - describedBefore);

      const events: TrackEvent[] = [];
      for (const [i, object] of update.assignments.entries()) {
        if (!object) continue;
        let record = records.get(object.id);
        if (!record) {
          record = {
            object,
            evidence: new TrackEvidence(bestK, aggregation),
            decision: undefined,
            decisions: 0,
            embedded: 0,
            describedFrame: Number.NEGATIVE_INFINITY,
            started: false,
            firstMs: frame.timestampMs,
            lastMs: frame.timestampMs,
            dirty: false,
          };
          records.set(object.id, record);
        }
        record.lastMs = frame.timestampMs;
        record.evidence.seen++;
        if (record.evidence.full && !faces[i]?.face && frame.index - record.describedFrame < describeEvery)
          continue;
        const face = await describe(i);
        if (!face) continue;
        record.describedFrame = frame.index;
        if (record.evidence.wouldKeep(face.quality.score)) {
          const embedding = await embedOf(i);
          if (embedding) {
            record.embedded++;
            record.dirty =
              record.evidence.offer({
                frameIndex: frame.index,
                timestampMs: frame.timestampMs,
                box: face.box,
                quality: face.quality,
                embedding,
                crop: face.crops?.aligned,
              }) || record.dirty;
            object.appearance = record.evidence.appearance();
          }
        }
      }
      for (const stage of ['detect', 'landmarks', 'align', 'quality', 'enhance'] as const)
        timings[stage] += stageTimes[stage];
      for (const object of update.confirmed) {
        const record = records.get(object.id)!;
        record.started = true;
        events.push(event('track.started', record, frame.index, frame.timestampMs, { decision: undefined }));
      }
      t = performance.now();
      for (const record of records.values()) {
        if (!record.started || !record.dirty) continue;
        record.dirty = false;
        const before = record.decision;
        const decision = await record.evidence.decide(deps.matcher, topK);
        record.decision = decision;
        record.decisions++;
        if (
          decision &&
          (!before || before.kind !== decision.kind || before.subjectId !== decision.subjectId)
        ) {
          events.push(
            event(
              decision.kind === 'unknown' ? 'track.unknown' : 'track.identified',
              record,
              frame.index,
              frame.timestampMs,
              { revised: before !== undefined, track: summarise(record) },
            ),
          );
        }
      }
      timings.decide += performance.now() - t;
      for (const object of update.ended) {
        const record = records.get(object.id);
        records.delete(object.id);
        if (!record?.started) continue;
        finished.push(record);
        events.push(
          event('track.ended', record, frame.index, frame.timestampMs, { track: summarise(record) }),
        );
      }
      await emit(events);

      if (options.annotate) {
        t = performance.now();
        const live = [...records.values()].filter(
          (r) => r.object.state === 'confirmed' && r.object.lastFrame === frame.index,
        );
        drawTrackBoxes(
          frame.image,
          live.map((r) => ({ box: r.object.box, kind: r.decision?.kind ?? 'face', id: r.object.id })),
        );
        await options.annotate.write(frame.image);
        timings.annotate += performance.now() - t;
      }
      const elapsed = (performance.now() - started) / 1000;
      options.onProgress?.({
        frames,
        positionMs: frame.timestampMs,
        fps: frames / Math.max(elapsed, 1e-3),
        realTimeFactor: frame.timestampMs / 1000 / Math.max(elapsed, 1e-3),
        activeTracks: [...records.values()].filter((r) => r.started).length,
        tracks: finished.length + [...records.values()].filter((r) => r.started).length,
      });
    }
  } finally {
    if (aborted) await iterator.return?.();
    await source.close();
    await options.annotate?.close();
  }

  // End of video: every live confirmed track ends here.
  const endEvents: TrackEvent[] = [];
  for (const object of tracker.finish()) {
    const record = records.get(object.id);
    if (!record?.started) continue;
    if (record.dirty) {
      record.decision = await record.evidence.decide(deps.matcher, topK);
      record.decisions++;
      record.dirty = false;
    }
    finished.push(record);
    endEvents.push(
      event('track.ended', record, Math.max(0, frames - 1), lastMs, { track: summarise(record) }),
    );
  }
  await emit(endEvents);

  finished.sort((a, b) => a.object.firstFrame - b.object.firstFrame || a.object.id - b.object.id);
  const elapsedMs = performance.now() - started;
  const end = source.end();
  const durationMs = frames === 0 ? 0 : lastMs + (info.fps > 0 ? 1000 / info.fps : 0);
  const crops: TrackCrops = new Map(
    finished.map((r) => [r.object.id, r.evidence.best().flatMap((f) => (f.crop ? [f.crop] : []))]),
  );
  return {
    result: {
      source: label,
      info,
      frames,
      durationMs: Math.round(durationMs),
      elapsedMs: Math.round(elapsedMs),
      fps: round2(frames / Math.max(elapsedMs / 1000, 1e-3)),
      realTimeFactor: round2(durationMs / Math.max(elapsedMs, 1e-3)),
      complete: !aborted && end.complete,
      reason: aborted ? 'Stopped before the end.' : end.reason,
      tracks: finished.map(summarise),
      timings: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])) as Record<
        VideoStage,
        number
      >,
      fullScans,
      calibration: deps.matcher.calibrationId,
      model: EMBEDDING_MODEL,
    },
    crops,
  };
}

function summarise(r: TrackRecord): TrackSummary {
  return {
    id: r.object.id,
    firstFrame: r.object.firstFrame,
    lastFrame: r.object.lastFrame,
    firstMs: r.firstMs,
    lastMs: r.lastMs,
    hits: r.object.hits,
    embedded: r.embedded,
    relinked: r.object.relinked,
    decision: r.decision,
    decisions: r.decisions,
    evidence: r.evidence.best().map((f) => ({
      frameIndex: f.frameIndex,
      timestampMs: f.timestampMs,
      box: f.box,
      quality: f.quality,
      similarity: f.similarity,
    })),
  };
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
