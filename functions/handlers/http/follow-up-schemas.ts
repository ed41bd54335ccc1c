/** Schemas of the unknown-person and review routes (the contract the web console is built against). */
import { z } from '@hono/zod-openapi';
import { DECISION_KINDS, SubjectIdSchema, SubjectNameSchema } from '../../core/domain.ts';

/** Ids of unknown persons, sightings and reviews are UUIDs; anything id-shaped is accepted and looked up. */
const RecordId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'must be an id (letters, digits, "_", "." or "-")');

export const UnknownIdParams = z.object({ id: RecordId.openapi({ param: { name: 'id', in: 'path' } }) });
export const SightingParams = z.object({
  id: RecordId.openapi({ param: { name: 'id', in: 'path' } }),
  sightingId: RecordId.openapi({ param: { name: 'sightingId', in: 'path' } }),
});
export const ReviewIdParams = UnknownIdParams;

const Limit = z.coerce
  .number({ error: 'must be a number' })
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(500, 'must be at most 500')
  .optional()
  .openapi({ param: { name: 'limit', in: 'query' }, description: 'Page size (default 50).' });
const Cursor = z
  .string()
  .min(1)
  .max(2048)
  .optional()
  .openapi({ param: { name: 'cursor', in: 'query' }, description: 'From the previous page.' });

export const UnknownListQuery = z.object({
  sort: z
    .enum(['recent', 'frequent'], { error: 'must be "recent" or "frequent"' })
    .optional()
    .openapi({
      param: { name: 'sort', in: 'query' },
      description: 'Most recently seen (default) or most often.',
    }),
  limit: Limit,
  cursor: Cursor,
});

export const ReviewListQuery = z.object({
  status: z
    .enum(['pending', 'confirmed', 'rejected'], { error: 'must be "pending", "confirmed" or "rejected"' })
    .optional()
    .openapi({ param: { name: 'status', in: 'query' } }),
  limit: Limit,
  cursor: Cursor,
});

const QualitySummary = z.object({ score: z.number(), reasons: z.array(z.string()) }).passthrough();
const BoxSchema = z.object({ x: z.number(), y: z.number(), width: z.number(), height: z.number() });

export const UnknownSummarySchema = z
  .object({
    id: z.string(),
    createdAt: z.string(),
    lastSeenAt: z.string(),
    sightingCount: z.number().int(),
    bestSightingId: z.string().optional(),
  })
  .openapi('UnknownPerson');

export const UnknownPageSchema = z.object({
  items: z.array(UnknownSummarySchema),
  nextCursor: z.string().nullable(),
});

export const UnknownViewSchema = UnknownSummarySchema.extend({
  sightings: z.array(
    z.object({
      id: z.string(),
      at: z.string(),
      source: z.string(),
      camera: z.string().optional(),
      faceIndex: z.number().int(),
      box: BoxSchema,
      quality: QualitySummary,
    }),
  ),
}).openapi('UnknownPersonWithSightings');

export const PromoteJson = z.object({ name: SubjectNameSchema, id: SubjectIdSchema.optional() });
export const MergeJson = z.object({ into: RecordId });
export const SplitJson = z.object({
  sightings: z.array(RecordId).min(1, 'must name at least one sighting').max(1000),
});

export const ReviewSchema = z
  .object({
    id: z.string(),
    status: z.enum(['pending', 'confirmed', 'rejected']),
    createdAt: z.string(),
    operation: z.string(),
    source: z.string(),
    faceIndex: z.number().int(),
    box: BoxSchema,
    quality: QualitySummary,
    decision: z.object({
      kind: z.enum(DECISION_KINDS),
      subjectId: z.string().optional(),
      subjectName: z.string().optional(),
      similarity: z.number(),
      threshold: z.number(),
      confidence: z.number(),
    }),
    reviewer: z.string().optional(),
    note: z.string().optional(),
    reviewedAt: z.string().optional(),
  })
  .openapi('Review');

export const ReviewPageSchema = z.object({ items: z.array(ReviewSchema), nextCursor: z.string().nullable() });

const FreeText = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');

export const VerdictJson = z.object({
  verdict: z.enum(['confirm', 'reject'], { error: 'must be "confirm" or "reject"' }),
  note: z.string().max(2000, 'must be at most 2,000 characters').optional(),
  reviewer: FreeText(200).optional(),
});

export const JpegSchema = z
  .string()
  .openapi({ type: 'string', format: 'binary', description: 'A JPEG face crop.' });
