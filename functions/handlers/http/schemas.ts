/**
 * The HTTP API's zod schemas: they validate the requests and generate the OpenAPI document, so the two cannot
 * disagree. The domain rules (subject id, name, metadata, variants) come from `core/domain.ts`.
 */
import { z } from '@hono/zod-openapi';
import {
  CAMERA_NAME_PATTERN,
  DECISION_KINDS,
  SubjectIdSchema as SubjectIdRule,
  SubjectMetadataInputSchema,
  SubjectNameSchema,
  TEMPLATE_VARIANTS,
} from '../../core/domain.ts';
import { HTTP_STATUS, type HttpErrorCode } from './errors.ts';

// The domain's schemas are cloned before `.openapi()`: zod gives an instance its methods when it is built, and
// core/domain.ts may be loaded before @hono/zod-openapi has added `.openapi` (a Lambda importing the core first).

/** A subject id: safe as a file name, a DynamoDB key and a URL path segment. */
export const SubjectIdSchema = SubjectIdRule.clone().openapi({
  description: 'Subject id: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`, never containing `..`.',
  example: 'jane-doe',
});

export const NameSchema = SubjectNameSchema.clone().openapi({
  description: 'Display name, 1 to 200 characters.',
  example: 'Jane Doe',
});

export const MetadataSchema = SubjectMetadataInputSchema.clone().openapi({
  description: 'Free-form string-to-string metadata, at most 50 keys.',
  example: { badge: '1234' },
});

// A multipart field is a string: the same metadata, JSON-encoded.
export const MetadataJsonSchema = z
  .string()
  .transform((text, ctx): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of strings' });
      return z.NEVER;
    }
  })
  .pipe(MetadataSchema)
  .openapi({ type: 'string', description: 'Metadata as a JSON object of strings, at most 50 keys.' });

// Strict alphabet, no whitespace, at most two padding characters; a length of 4n+1 cannot be base64.
export const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
export const Base64ImageSchema = z
  .string()
  .min(2, 'must be a non-empty base64-encoded image')
  .refine((s) => BASE64.test(s) && s.length % 4 !== 1 && (!s.endsWith('=') || s.length % 4 === 0), {
    message: 'must be a base64-encoded image (standard alphabet, no data: prefix)',
  })
  .openapi({ description: 'The image file (JPEG, PNG, WebP, …), base64-encoded.' });

export const ImageFileSchema = z
  .custom<Blob>((v) => v instanceof Blob && v.size > 0, 'must be a non-empty image file')
  .openapi({ type: 'string', format: 'binary', description: 'The image file (JPEG, PNG, WebP, …).' });

export const RawImageSchema = z
  .string()
  .openapi({ type: 'string', format: 'binary', description: 'The image file itself.' });

export const BooleanFieldSchema = z.enum(['true', 'false']).openapi({ description: '`true` or `false`.' });

export const TakeLargestJson = z.boolean().optional().openapi({
  description:
    'When the photo shows several faces, enrol the largest instead of refusing with MULTIPLE_FACES.',
});

export const CreateSubjectJson = z
  .object({
    name: NameSchema,
    id: SubjectIdSchema.optional(),
    metadata: MetadataSchema.optional(),
    image: Base64ImageSchema.optional(),
    takeLargest: TakeLargestJson,
  })
  .openapi('CreateSubjectJson');

export const CreateSubjectForm = z
  .object({
    name: NameSchema,
    id: SubjectIdSchema.optional(),
    metadata: MetadataJsonSchema.optional(),
    image: ImageFileSchema.optional(),
    takeLargest: BooleanFieldSchema.optional(),
  })
  .openapi('CreateSubjectForm');

export const ImageJson = z
  .object({ image: Base64ImageSchema, takeLargest: TakeLargestJson })
  .openapi('ImageJson');
export const ImageForm = z
  .object({ image: ImageFileSchema, takeLargest: BooleanFieldSchema.optional() })
  .openapi('ImageForm');

export const exactlyOneTarget = (v: { otherImage?: unknown; subjectId?: unknown }) =>
  (v.otherImage === undefined) !== (v.subjectId === undefined);
export const ONE_TARGET = { message: 'give exactly one of otherImage and subjectId' };

export const VerifyJson = z
  .object({
    image: Base64ImageSchema,
    otherImage: Base64ImageSchema.optional(),
    subjectId: SubjectIdSchema.optional(),
  })
  .refine(exactlyOneTarget, ONE_TARGET)
  .openapi('VerifyJson');

export const VerifyForm = z
  .object({
    image: ImageFileSchema,
    otherImage: ImageFileSchema.optional(),
    subjectId: SubjectIdSchema.optional(),
  })
  .refine(exactlyOneTarget, ONE_TARGET)
  .openapi('VerifyForm');

export const IdParams = z.object({ id: SubjectIdSchema.openapi({ param: { name: 'id', in: 'path' } }) });

export const TakeLargestQuery = BooleanFieldSchema.optional().openapi({
  param: { name: 'takeLargest', in: 'query' },
  description: 'Enrol the largest face when the photo shows several (any body form).',
});

export const CreateSubjectQuery = z.object({
  name: NameSchema.optional().openapi({
    param: { name: 'name', in: 'query' },
    description: 'The name, required with a raw image body.',
  }),
  id: SubjectIdSchema.optional().openapi({ param: { name: 'id', in: 'query' } }),
  takeLargest: TakeLargestQuery,
});

export const TopKQuery = z.object({
  topK: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .optional()
    .openapi({
      param: { name: 'topK', in: 'query' },
      description: 'Candidates returned per face (default 5).',
    }),
});

/** `topK` and the camera (profile) the probe came from. */
export const IdentifyQuery = TopKQuery.extend({
  camera: z
    .string()
    .regex(
      CAMERA_NAME_PATTERN,
      'must be 1–64 letters, digits, "_", "." or "-", starting with a letter or digit',
    )
    .optional()
    .openapi({
      param: { name: 'camera', in: 'query' },
      description:
        "The camera that took the image; recorded with every decision in the audit log. Where cameras are configured (local mode, `PUT /cameras/{id}`), the faces are also scored against that camera's camera-matched templates, and a camera that is not configured is refused (404 CAMERA_NOT_FOUND).",
    }),
});

export const ListQuery = z.object({
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(500, 'must be at most 500')
    .optional()
    .openapi({ param: { name: 'limit', in: 'query' }, description: 'Page size (default 50).' }),
  cursor: z
    .string()
    .min(1)
    .max(2048)
    .optional()
    .openapi({
      param: { name: 'cursor', in: 'query' },
      description: 'The `nextCursor` of the previous page.',
    }),
});

export const BoxSchema = z
  .object({ x: z.number(), y: z.number(), width: z.number(), height: z.number() })
  .openapi('Box');
export const PointSchema = z.object({ x: z.number(), y: z.number() });
export const LandmarksSchema = z
  .object({
    leftEye: PointSchema,
    rightEye: PointSchema,
    nose: PointSchema,
    mouthLeft: PointSchema,
    mouthRight: PointSchema,
  })
  .openapi('Landmarks');
export const QualitySchema = z
  .object({
    score: z.number(),
    reasons: z.array(z.string()),
    brightness: z.number(),
    contrast: z.number(),
    sharpness: z.number(),
    interOcularPx: z.number(),
    detectionScore: z.number(),
    yaw: z.number(),
    pitch: z.number(),
    roll: z.number(),
  })
  .openapi('FaceQuality');
export const ModelSchema = z.object({ id: z.string(), version: z.string() }).openapi('Model');

export const SubjectSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    metadata: z.record(z.string(), z.string()),
    createdAt: z.string(),
  })
  .openapi('Subject');
export const SubjectViewSchema = SubjectSchema.extend({
  templates: z.array(
    z.object({
      id: z.string(),
      variant: z.enum(TEMPLATE_VARIANTS),
      source: z.string(),
      quality: QualitySchema,
      createdAt: z.string(),
    }),
  ),
}).openapi('SubjectView');
export const SubjectPageSchema = z
  .object({ items: z.array(SubjectSchema), nextCursor: z.string().nullable() })
  .openapi('SubjectPage');

export const CandidateSchema = z
  .object({
    subjectId: z.string(),
    similarity: z.number(),
    templateId: z.string(),
    name: z.string().optional(),
  })
  .openapi('Candidate');
export const DecisionSchema = z
  .object({
    kind: z.enum(DECISION_KINDS).openapi({
      description:
        'match, unknown, ambiguous, or insufficient_quality: the face is below the quality gate and no match reached the stricter threshold of its band, so the system does not claim the person is or is not enrolled (see reasons).',
    }),
    subjectId: z.string().optional(),
    subjectName: z.string().optional(),
    similarity: z.number(),
    threshold: z.number(),
    margin: z.number(),
    confidence: z.number(),
    candidates: z.array(CandidateSchema),
    qualityBand: z.enum(['good', 'poor']).optional().openapi({
      description: 'The quality band whose threshold was applied (poor: below the quality gate).',
    }),
    reasons: z.array(z.string()).optional().openapi({
      description:
        'For insufficient_quality: why the face cannot be judged (e.g. LOW_SHARPNESS, SMALL_FACE).',
    }),
    camera: z
      .object({
        id: z.string(),
        searched: z
          .boolean()
          .openapi({ description: 'Whether its templates were searched (FACEPRINT_CAMERA_TEMPLATES=on).' }),
        templates: z.number().int(),
        bestIsCameraTemplate: z.boolean(),
      })
      .optional()
      .openapi({
        description:
          "The configured camera's templates the face was also scored against: how many, and whether the decided subject's best template was one of them.",
      }),
  })
  .openapi('Decision');
export const IdentifyResultSchema = z
  .object({
    width: z.number(),
    height: z.number(),
    faces: z.array(
      z.object({
        box: BoxSchema,
        landmarks: LandmarksSchema,
        quality: QualitySchema,
        enhanced: z.boolean(),
        restoration: z.enum(['none', 'smoothed', 'deblurred']).openapi({
          description:
            'What was done to the aligned face before embedding: smoothed (compression blocks or noise), deblurred (heavy blur deconvolved) or none. Weigh a match on a deblurred face accordingly.',
        }),
        decision: DecisionSchema,
        candidates: z.array(CandidateSchema),
      }),
    ),
    calibration: z.string(),
    camera: z.string().optional().openapi({ description: 'The camera (profile) the call named.' }),
    model: ModelSchema,
  })
  .openapi('IdentifyResult');
export const VerifyResultSchema = z
  .object({
    match: z.boolean(),
    similarity: z.number(),
    threshold: z.number(),
    confidence: z.number(),
    faces: z.array(z.object({ box: BoxSchema, quality: QualitySchema })),
    subjectId: z.string().optional(),
  })
  .openapi('VerifyResult');
export const DetectResultSchema = z
  .object({
    width: z.number(),
    height: z.number(),
    faces: z.array(
      z.object({
        box: BoxSchema,
        landmarks: LandmarksSchema,
        score: z.number(),
        detector: z.string(),
        quality: QualitySchema,
        pose: z.object({ yaw: z.number(), pitch: z.number(), roll: z.number() }),
      }),
    ),
  })
  .openapi('DetectResult');
export const HealthSchema = z
  .object({
    status: z.literal('ok'),
    // null where the index is remote (S3 Vectors), which does not count its vectors.
    index: z.object({
      templates: z.number().nullable(),
      subjects: z.number().nullable(),
      kernel: z.string(),
    }),
    model: ModelSchema,
    calibration: z.string(),
  })
  .openapi('Health');
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(HTTP_STATUS) as [HttpErrorCode, ...HttpErrorCode[]]),
      message: z.string(),
    }),
  })
  .openapi('Error');
