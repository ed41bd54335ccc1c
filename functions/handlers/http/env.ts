/** What every part of the HTTP app shares: its dependencies and the per-request context it keeps. */
import type { CameraGallery } from '../../core/camera/service.ts';
import type { GalleryService } from '../../core/gallery/service.ts';
import type { VideoJobsPort } from '../../core/video/jobs.ts';
import type { ErrorLogger } from './errors.ts';
import type { FollowUpRouteDeps } from './unknowns-routes.ts';

/** Where the app writes its access log and its server-side errors; `console` fits. */
export interface HttpLogger extends ErrorLogger {
  info(message: string, ...extra: unknown[]): void;
}

/** What the HTTP app needs: the gallery, and how to guard it. */
export interface AppDeps {
  gallery: GalleryService;
  /** When non-empty, every route but /health and /openapi.json requires one of these in `x-api-key`. */
  apiKeys?: string[] | undefined;
  /** Largest accepted request body (default 20 MiB). */
  maxBodyBytes?: number | undefined;
  logger?: HttpLogger | undefined;
  /** The built web console (`console/dist`), served at `/`; without it `/` says how to build it. */
  consoleDir?: string | undefined;
  /** Unknown persons and the review queue; their routes are served only when given. */
  followUp?: FollowUpRouteDeps | undefined;
  /** Video jobs (local mode); without them the video routes are not served. */
  videos?: VideoJobsPort | undefined;
  /** Configured cameras (local mode); without them the camera routes are not served. */
  cameras?: CameraGallery | undefined;
}

/** Default {@link AppDeps.maxBodyBytes}: a large phone photo, base64-encoded, fits. */
export const DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024;

/** Hono's environment of the app: the request id and the buffered request body. */
export type AppEnv = { Variables: { requestId: string; body: Uint8Array | undefined } };
