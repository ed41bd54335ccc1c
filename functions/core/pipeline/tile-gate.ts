/**
 * Where the fine pyramid level needs to look. The whole-frame ULFD pass already responds to most small faces it
 * cannot yet report: measured on LFW faces 24–88 px pasted into 1280×720 and 1920×1080 frames, their priors
 * scored 0.14–0.97 while a noisy or textured background stayed under 0.13. So instead of tiling the whole
 * level, the detector runs one tile centred on each such place; a frame with nothing face-like pays for no tile.
 */
import type { Box } from '../types.ts';

/** A tile's top-left corner in level pixels. */
export interface TileOrigin {
  x: number;
  y: number;
}

/**
 * Tile origins that cover every candidate: candidates in source pixels, best first; a candidate whose centre
 * lies well inside an already chosen tile (at least `margin` level px from an inner edge) needs no tile of its
 * own. Tiles are `tw`×`th` level pixels, clamped to the level.
 */
export function tilesAroundCandidates(
  candidates: readonly { box: Box; score: number }[],
  level: { width: number; height: number },
  scaleX: number,
  scaleY: number,
  tw: number,
  th: number,
  margin: number,
): TileOrigin[] {
  const tiles: TileOrigin[] = [];
  const sorted = [...candidates].sort((a, b) => b.score - a.score);
  const clamp = (v: number, tile: number, length: number) =>
    Math.max(0, Math.min(Math.round(v), length - tile));
  for (const { box } of sorted) {
    const cx = (box.x + box.width / 2) * scaleX;
    const cy = (box.y + box.height / 2) * scaleY;
    const covered = tiles.some(
      (t) =>
        (t.x === 0 || cx >= t.x + margin) &&
        (t.x + tw >= level.width || cx <= t.x + tw - margin) &&
        (t.y === 0 || cy >= t.y + margin) &&
        (t.y + th >= level.height || cy <= t.y + th - margin),
    );
    if (covered) continue;
    tiles.push({
      x: level.width <= tw ? 0 : clamp(cx - tw / 2, tw, level.width),
      y: level.height <= th ? 0 : clamp(cy - th / 2, th, level.height),
    });
  }
  return tiles;
}
