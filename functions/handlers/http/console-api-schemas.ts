/**
 * Schemas of the routes the web console added to the API: the audit log read (`GET /decisions`), the enrolment
 * thumbnails and the settings in use (`GET /settings`). Beside `schemas.ts`, whose shared parts they reuse.
 */
import { z } from '@hono/zod-openapi';
import {
  BoxSchema,
  DecisionSchema,
  IdParams,
  ListQuery,
  ModelSchema,
  QualitySchema,
  SubjectIdSchema,
} from './schemas.ts';

const IsoTime = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 time such as 2026-12-01T08:00:00Z');

export const DecisionsQuery = ListQuery.extend({
  decision: z
    .enum(['match', 'unknown', 'ambiguous'])
    .optional()
    .openapi({ param: { name: 'decision', in: 'query' }, description: 'Keep only this decision.' }),
  operation: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .openapi({
      param: { name: 'operation', in: 'query' },
      description: '`identify`, `verify`, `ingest`, … (exact).',
    }),
  source: z
    .string()
    .min(1)
    .max(512)
    .optional()
    .openapi({
      param: { name: 'source', in: 'query' },
      description:
        'Case-insensitive part of the source: a camera folder (`uploads/door/`), an object key or a file name.',
    }),
  from: IsoTime.optional().openapi({
    param: { name: 'from', in: 'query' },
    description: 'Decisions at or after this time (ISO-8601).',
  }),
  to: IsoTime.optional().openapi({
    param: { name: 'to', in: 'query' },
    description: 'Decisions before this time (ISO-8601).',
  }),
});

export const AuditEntrySchema = z
  .object({
    id: z.string(),
    at: z.string(),
    operation: z.string(),
    source: z.string(),
    faceIndex: z.number(),
    box: BoxSchema,
    quality: QualitySchema,
    decision: DecisionSchema,
    model: ModelSchema,
    calibration: z.string(),
    camera: z.string().optional().openapi({ description: 'The camera (profile) the identify call named.' }),
    restoration: z.enum(['none', 'smoothed', 'deblurred']).optional().openapi({
      description: 'What was done to the face before matching (entries since pipeline fp8).',
    }),
  })
  .openapi('AuditEntry');

export const DecisionPageSchema = z
  .object({ items: z.array(AuditEntrySchema), nextCursor: z.string().nullable() })
  .openapi('DecisionPage');

export const TemplateParams = IdParams.extend({
  templateId: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9_.-]+$/, 'must be a template id')
    .openapi({ param: { name: 'templateId', in: 'path' } }),
});

export const JpegSchema = z.string().openapi({ type: 'string', format: 'binary' });

export const SettingsSchema = z
  .object({
    calibration: z.object({
      id: z.string(),
      createdAt: z.string(),
      modelId: z.string(),
      pipelineVersion: z.string(),
      dataset: z.object({
        description: z.string(),
        identities: z.number(),
        matedProbes: z.number(),
        nonMatedProbes: z.number(),
      }),
      targetFpir: z.number(),
      threshold: z.number(),
      verifyThreshold: z.number(),
      targetFar: z.number(),
      ambiguityMargin: z.number(),
      measured: z.object({ tpirAtThreshold: z.number(), fpirAtThreshold: z.number() }),
      method: z.string(),
    }),
    minEnrolQuality: z.number(),
    topK: z.number(),
    variants: z.array(z.string()),
    model: ModelSchema,
  })
  .openapi('Settings');

export { SubjectIdSchema };
