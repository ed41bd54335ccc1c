import { describe, expect, it } from 'vitest';
import { projectLandmarks, rotationFromAngles } from '../../functions/core/pose/fit.ts';
import { LANDMARK_POSE_SIGNS, landmarkHeadPose } from '../../functions/core/pose/landmark-pose.ts';

/** The 68 landmarks of the generic face at a pose, 120 px across, centred at (200, 150). */
const at = (yaw: number, pitch: number, roll: number) =>
  projectLandmarks(rotationFromAngles(yaw, pitch, roll), 1.2, 200, 150);

describe('landmark head pose', () => {
  it('recovers known angles, in the pose model’s sign convention', () => {
    for (const [yaw, pitch, roll] of [
      [0, 0, 0],
      [25, 0, 0],
      [-30, 10, 0],
      [15, -10, 20],
    ] as const) {
      const pose = landmarkHeadPose(at(yaw, pitch, roll));
      expect(pose.yaw).toBeCloseTo(LANDMARK_POSE_SIGNS.yaw * yaw, 0);
      expect(pose.pitch).toBeCloseTo(LANDMARK_POSE_SIGNS.pitch * pitch, 0);
      expect(pose.roll).toBeCloseTo(LANDMARK_POSE_SIGNS.roll * roll, 0);
      expect(pose.rmsError).toBeLessThan(0.5);
    }
  });

  it('a mirrored face turns the other way: yaw and roll change sign, pitch stays', () => {
    const points = at(20, 8, 12);
    // Mirror about x = 200; iBUG order swaps left and right, so swap the points as a mirrored photo would.
    const mirrorIndex = [
      ...Array.from({ length: 17 }, (_, i) => 16 - i),
      ...[26, 25, 24, 23, 22, 21, 20, 19, 18, 17],
      27,
      28,
      29,
      30,
      35,
      34,
      33,
      32,
      31,
      45,
      44,
      43,
      42,
      47,
      46,
      39,
      38,
      37,
      36,
      41,
      40,
      54,
      53,
      52,
      51,
      50,
      49,
      48,
      59,
      58,
      57,
      56,
      55,
      64,
      63,
      62,
      61,
      60,
      67,
      66,
      65,
    ];
    const mirrored = mirrorIndex.map((j) => ({ x: 400 - points[j]!.x, y: points[j]!.y }));
    const a = landmarkHeadPose(points);
    const b = landmarkHeadPose(mirrored);
    expect(b.yaw).toBeCloseTo(-a.yaw, 0);
    expect(b.roll).toBeCloseTo(-a.roll, 0);
    expect(b.pitch).toBeCloseTo(a.pitch, 0);
  });

  it('refuses anything but 68 points', () => {
    expect(() => landmarkHeadPose(at(0, 0, 0).slice(0, 5))).toThrow(/68/);
  });
});
