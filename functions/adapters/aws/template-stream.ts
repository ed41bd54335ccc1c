/**
 * The templates table's DynamoDB stream, decoded: each record becomes a {@link TemplateChange} (an upsert with its
 * index entry, or a removal), validated with zod. The stream images use DynamoDB's JSON (`{ "S": … }`,
 * `{ "B": "<base64>" }`, `{ "M": { … } }`); a record that is not a templates-table change throws with the reason.
 */
import { z } from 'zod';
import type { IndexEntry } from '../../core/search/vector-index.ts';

// Stream images use DynamoDB's JSON: { "S": "…" }, { "B": "<base64>" }, { "M": { … } }.
const S = z.object({ S: z.string().min(1) });
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const KeysSchema = z.looseObject({ pk: S, sk: S });
const TemplateImageSchema = z.looseObject({
  pk: S,
  sk: S,
  embedding: z.object({ B: z.string().regex(B64) }),
  variant: S,
  model: z.object({ M: z.looseObject({ id: S }) }),
});
const StreamRecordSchema = z.object({
  eventName: z.enum(['INSERT', 'MODIFY', 'REMOVE']),
  dynamodb: z.object({
    Keys: KeysSchema,
    NewImage: z.unknown().optional(),
    SequenceNumber: z.string().min(1),
    ApproximateCreationDateTime: z.number().optional(),
  }),
});
/** A DynamoDB stream event: only the record list is checked here, each record by {@link changeOf}. */
export const StreamEventSchema = z.object({ Records: z.array(z.unknown()) });

/** One change of the templates table, in stream order. */
export type TemplateChange =
  | {
      kind: 'upsert';
      seq: string;
      at: number | undefined;
      modify: boolean;
      modelId: string;
      entry: IndexEntry;
    }
  | { kind: 'remove'; seq: string; at: number | undefined; subjectId: string; templateId: string };

function decodeEmbedding(base64: string): Float32Array {
  // Any length: templates of another model pack (a re-embedding in progress) have another size, and the
  // indexer skips them by model id rather than failing the stream on them.
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.byteLength === 0 || bytes.byteLength % 4 !== 0) {
    throw new Error(`embedding is ${bytes.byteLength} bytes, not a whole number of float32 values`);
  }
  // Copy into a buffer of its own: Buffer slices of the shared pool are not 4-byte aligned.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

/** Reads one stream record; throws with a reason when it is not a templates-table change. */
export function changeOf(raw: unknown): TemplateChange {
  const record = StreamRecordSchema.parse(raw);
  const { Keys, SequenceNumber: seq, ApproximateCreationDateTime } = record.dynamodb;
  const at = ApproximateCreationDateTime === undefined ? undefined : ApproximateCreationDateTime * 1000;
  if (record.eventName === 'REMOVE') {
    return { kind: 'remove', seq, at, subjectId: Keys.pk.S, templateId: Keys.sk.S };
  }
  const image = TemplateImageSchema.parse(record.dynamodb.NewImage);
  const variant = image.variant.S as IndexEntry['variant'];
  return {
    kind: 'upsert',
    seq,
    at,
    modify: record.eventName === 'MODIFY',
    modelId: image.model.M.id.S,
    entry: {
      subjectId: image.pk.S,
      templateId: image.sk.S,
      variant,
      vector: decodeEmbedding(image.embedding.B),
    },
  };
}

/** The sequence number of a record that failed to parse, if it has one. */
export function sequenceOf(raw: unknown): string | undefined {
  const seq = (raw as { dynamodb?: { SequenceNumber?: unknown } } | undefined)?.dynamodb?.SequenceNumber;
  return typeof seq === 'string' ? seq : undefined;
}
