import { describe, expect, it } from 'vitest';
import { takeModelPackOption } from '../../bin/cli/model-pack-option.ts';

describe('--model-pack', () => {
  it('selects the pack for the process and leaves the other arguments', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(takeModelPackOption(['identify', '--model-pack', 'packs/x', 'a.jpg'], env)).toEqual([
      'identify',
      'a.jpg',
    ]);
    expect(env.FACEPRINT_MODEL_PACK).toBe('packs/x');
    expect(takeModelPackOption(['--model-pack=y', 'detect'], env)).toEqual(['detect']);
    expect(env.FACEPRINT_MODEL_PACK).toBe('y');
    expect(() => takeModelPackOption(['--model-pack'], env)).toThrow('--model-pack needs a folder.');
  });
});
