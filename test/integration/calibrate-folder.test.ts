import { afterAll, describe, expect, it } from 'vitest';
import { calibrateOnFolder } from '../../functions/core/gallery/calibrate.ts';
import { defaultGalleryConfig } from '../../functions/core/gallery/config.ts';
import { FacePipeline } from '../../functions/core/pipeline/pipeline.ts';
import type { Calibration } from '../../functions/core/search/calibration.ts';
import { hasData, LFW } from '../support/data.ts';

// The first 24 lfw-dev identities: 8 with two or more photos (enrolled, 33 mated probes), 16 strangers.
describe.runIf(hasData(LFW))('faceprint calibrate on a labelled folder (real pipeline)', () => {
  const pipeline = new FacePipeline({ threads: 1 });
  afterAll(() => pipeline.dispose());
  const config = { ...defaultGalleryConfig({ threshold: 0 } as Calibration), variants: [] };
  const calibrate = (learnQualityGate: boolean) =>
    calibrateOnFolder(pipeline, config, LFW, {
      targetFpir: 0.1,
      targetFar: 0.01,
      ambiguityMargin: 0.03,
      limit: 24,
      learnQualityGate,
    });

  it('learns the quality gate by default and leaves it out for the built-in gate', async () => {
    const learned = await calibrate(true);
    expect(learned.dataset).toMatchObject({ identities: 24, nonMatedProbes: 16 });
    expect(learned.threshold).toBeGreaterThan(0);
    expect(learned.threshold).toBeLessThan(1);
    expect(learned.qualityGate?.method).toMatch(/\S/);
    const builtin = await calibrate(false);
    expect(builtin.qualityGate).toBeUndefined();
    // The thresholds do not depend on the gate.
    expect(builtin.threshold).toBe(learned.threshold);
    expect(builtin.verifyThreshold).toBe(learned.verifyThreshold);
  }, 120_000);
});
