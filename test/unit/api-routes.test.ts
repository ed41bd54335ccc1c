/**
 * The routes API Gateway declares (`API_ROUTES` and `CONSOLE_ROUTES` in lib/runtime-config.ts, no catch-all proxy) and the routes the
 * HTTP app serves must be the same list: a route added to one and not the other is unreachable in AWS or
 * answered by API Gateway's 403 instead of the app.
 */
import { describe, expect, it } from 'vitest';
import type { GalleryService } from '../../functions/core/gallery/service.ts';
import { createApp } from '../../functions/handlers/http/app.ts';
import type { FollowUpRouteDeps } from '../../functions/handlers/http/unknowns-routes.ts';
import { API_ROUTES, CONSOLE_ROUTES } from '../../lib/runtime-config.ts';

describe('API routes', () => {
  it('are the same in the infrastructure and in the HTTP app', () => {
    // Building the app only registers routes: no method of the gallery is called.
    // With the follow-up (unknowns, reviews), as the api function serves it; the video routes are local-only.
    const app = createApp({ gallery: {} as GalleryService, followUp: {} as FollowUpRouteDeps });
    const served = app.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    const declared = [...API_ROUTES, ...CONSOLE_ROUTES].map((r) => `${r.method} ${r.path}`);
    expect([...new Set(served)].sort()).toEqual([...new Set(declared)].sort());
  });
});
