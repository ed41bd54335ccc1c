/**
 * A contract fake of the Amazon S3 Vectors data-plane API, because S3 Vectors has no local emulator. It serves
 * the documented REST shapes on 127.0.0.1 (POST /PutVectors, /QueryVectors, /DeleteVectors with JSON bodies,
 * from the S3 Vectors API reference), checks each request against the documented constraints (index addressed by
 * ARN or bucket+name, ≤ 500 vectors or keys per call, 1 ≤ topK ≤ 100, float32 data of the index's dimension,
 * ≤ 2 KB filterable metadata, the filter operators `$eq`/`$in`/`$and`), answers a 400 ValidationException
 * otherwise, and records every request so tests can assert the exact shapes the real SDK client sent. Search
 * is exhaustive cosine (the real service is approximate): the fake checks the contract, not the service's recall.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  body: Record<string, unknown>;
}

interface Stored {
  data: number[];
  metadata: Record<string, unknown>;
}

type Filter = Record<string, unknown>;

function matches(metadata: Record<string, unknown>, filter: Filter): boolean {
  return Object.entries(filter).every(([key, condition]) => {
    if (key === '$and') return (condition as Filter[]).every((f) => matches(metadata, f));
    const value = metadata[key];
    const op =
      typeof condition === 'object' && condition !== null
        ? (condition as Record<string, unknown>)
        : { $eq: condition };
    if ('$eq' in op) return Array.isArray(value) ? value.includes(op.$eq) : value === op.$eq;
    if ('$in' in op)
      return (op.$in as unknown[]).some((x) => (Array.isArray(value) ? value.includes(x) : value === x));
    throw new Error(`unsupported operator in ${JSON.stringify(condition)}`);
  });
}

/** Starts the fake for one index (`indexArn`, `dimension`, cosine). */
export async function startS3VectorsFake(options: { indexArn: string; dimension: number }): Promise<{
  endpoint: string;
  requests: RecordedRequest[];
  vectors: Map<string, Stored>;
  close: () => Promise<void>;
}> {
  const requests: RecordedRequest[] = [];
  const vectors = new Map<string, Stored>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const invalid = (message: string) => {
        res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': 'ValidationException' });
        res.end(JSON.stringify({ message }));
      };
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        return invalid('body is not JSON');
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', body });
      if (req.method !== 'POST') return invalid('only POST');
      if (body.indexArn !== options.indexArn) return invalid(`unknown index ${String(body.indexArn)}`);
      const checkVector = (data: unknown): number[] | string => {
        const f = (data as { float32?: unknown })?.float32;
        if (!Array.isArray(f) || f.length !== options.dimension)
          return `data.float32 must have ${options.dimension} numbers`;
        if (!f.every((x) => typeof x === 'number' && Number.isFinite(x)))
          return 'data.float32 must be finite numbers';
        return f as number[];
      };
      switch (req.url) {
        case '/PutVectors': {
          const list = body.vectors;
          if (!Array.isArray(list) || list.length < 1 || list.length > 500)
            return invalid('vectors: 1 to 500');
          for (const v of list as { key?: unknown; data?: unknown; metadata?: unknown }[]) {
            if (typeof v.key !== 'string' || v.key.length < 1 || v.key.length > 1024)
              return invalid('key: 1 to 1024 characters');
            const data = checkVector(v.data);
            if (typeof data === 'string') return invalid(data);
            const metadata = (v.metadata ?? {}) as Record<string, unknown>;
            const { templateId: _nonFilterable, ...filterable } = metadata;
            if (Buffer.byteLength(JSON.stringify(filterable)) > 2048)
              return invalid('filterable metadata over 2 KB');
            vectors.set(v.key, { data, metadata });
          }
          return reply(200, {});
        }
        case '/DeleteVectors': {
          const keys = body.keys;
          if (!Array.isArray(keys) || keys.length < 1 || keys.length > 500) return invalid('keys: 1 to 500');
          for (const k of keys) vectors.delete(String(k));
          return reply(200, {});
        }
        case '/QueryVectors': {
          const topK = body.topK;
          if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > 100)
            return invalid('topK: 1 to 100');
          const q = checkVector(body.queryVector);
          if (typeof q === 'string') return invalid(q);
          const filter = body.filter as Filter | undefined;
          const norm = Math.hypot(...q);
          const scored: { key: string; distance: number; metadata: Record<string, unknown> }[] = [];
          for (const [key, v] of vectors) {
            if (filter && !matches(v.metadata, filter)) continue;
            let dot = 0;
            for (let i = 0; i < q.length; i++) dot += (q[i] as number) * (v.data[i] as number);
            scored.push({ key, distance: 1 - dot / (norm * Math.hypot(...v.data)), metadata: v.metadata });
          }
          scored.sort((a, b) => a.distance - b.distance);
          return reply(200, {
            distanceMetric: 'cosine',
            vectors: scored.slice(0, topK).map((s) => ({
              key: s.key,
              ...(body.returnDistance ? { distance: s.distance } : {}),
              ...(body.returnMetadata ? { metadata: s.metadata } : {}),
            })),
          });
        }
        default:
          return invalid(`unknown operation ${req.url}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    vectors,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
