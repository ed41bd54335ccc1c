#!/usr/bin/env node
// The `faceprint` command. The project runs its TypeScript directly through tsx's loader (no build step).
import { register } from 'tsx/esm/api';

register();
await import('./faceprint.ts');
