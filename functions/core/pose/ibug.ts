/** Facts about the 68-point iBUG 300-W landmark order that pose synthesis needs. */

const PAIRS: readonly [number, number][] = [
  // Jaw 0–16, brows 17–26, nose 31–35, eyes 36–47, outer lip 48–59, inner lip 60–67.
  ...Array.from({ length: 8 }, (_, i) => [i, 16 - i] as [number, number]),
  ...Array.from({ length: 5 }, (_, i) => [17 + i, 26 - i] as [number, number]),
  [31, 35],
  [32, 34],
  [36, 45],
  [37, 44],
  [38, 43],
  [39, 42],
  [40, 47],
  [41, 46],
  [48, 54],
  [49, 53],
  [50, 52],
  [59, 55],
  [58, 56],
  [60, 64],
  [61, 63],
  [67, 65],
];

/** For each of the 68 points, the index of its left–right mirror point (points on the midline map to themselves). */
export const IBUG_MIRROR: readonly number[] = (() => {
  const mirror = Array.from({ length: 68 }, (_, i) => i);
  for (const [a, b] of PAIRS) {
    mirror[a] = b;
    mirror[b] = a;
  }
  return mirror;
})();

/**
 * Weight of each point in the pose fit: the jaw line is a silhouette that slides over the face as the head turns,
 * so it counts less than the rigid inner points (eyes, nose, brows, mouth).
 */
export const POSE_FIT_WEIGHTS: readonly number[] = Array.from({ length: 68 }, (_, i) =>
  i <= 16 ? 0.3 : i >= 48 ? 0.6 : 1,
);
