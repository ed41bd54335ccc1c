import type { Box, HeadPose } from '../types.ts';
import { cropResize } from './geometry.ts';
import type { RgbImage } from './image.ts';
import { type OnnxBackend, output } from './models.ts';

const SIZE = 224;
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

function expectedAngle(logits: Float32Array): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  let weighted = 0;
  for (let i = 0; i < logits.length; i++) {
    const p = Math.exp(logits[i]! - max);
    sum += p;
    weighted += p * i;
  }
  // 66 bins of 3° starting at −99°.
  return (weighted / sum) * 3 - 99;
}

/** Estimates head pose (degrees) from the face box enlarged by 25% on every side, as the model was trained. */
export async function estimatePose(backend: OnnxBackend, image: RgbImage, box: Box): Promise<HeadPose> {
  const region: Box = {
    x: box.x - box.width / 4,
    y: box.y - box.height / 4,
    width: box.width * 1.5,
    height: box.height * 1.5,
  };
  const crop = cropResize(image, region, SIZE, SIZE);
  const plane = SIZE * SIZE;
  const input = new Float32Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) input[c * plane + i] = (crop.data[i * 3 + c]! / 255 - MEAN[c]!) / STD[c]!;
  }
  const model = backend.pack.pose?.model ?? 'hopenet-pose';
  const result = await backend.run(model, input, [1, 3, SIZE, SIZE]);
  return {
    yaw: expectedAngle(output(result, model, 'output')),
    pitch: expectedAngle(output(result, model, '617')),
    roll: expectedAngle(output(result, model, '618')),
  };
}
