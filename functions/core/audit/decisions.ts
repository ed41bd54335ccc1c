/**
 * Reading the decision audit log for people: recent decisions, newest first, filtered by decision kind,
 * operation, source (a camera's folder, an object key, a file name) and time. The store pages the log in
 * fixed chunks; this module filters them and hands out its own cursor (the store's cursor of the chunk plus
 * how far into it the page ended), so a page boundary never skips or repeats a row. Any store's `listAudit`
 * fits: filtering here keeps the port unchanged for the SQLite and DynamoDB adapters.
 */
import type { DecisionAuditEntry, DecisionKind } from '../domain.ts';
import { FaceprintError } from '../errors.ts';
import type { FaceStore, Page } from '../gallery/ports.ts';

/** What {@link queryDecisions} keeps; every field is optional and they combine with AND. */
export interface DecisionFilter {
  decision?: DecisionKind | undefined;
  /** `identify`, `verify`, `ingest`, … (exact). */
  operation?: string | undefined;
  /** Case-insensitive substring of the source (a camera folder such as `uploads/door/` matches its stills). */
  source?: string | undefined;
  /** Inclusive lower bound, ISO-8601. */
  from?: string | undefined;
  /** Exclusive upper bound, ISO-8601. */
  to?: string | undefined;
}

/** Rows read from the store per chunk. */
const CHUNK = 100;
/** Rows one call reads at most before it returns what it found (maybe nothing) with a cursor to go on. */
export const MAX_SCANNED_PER_PAGE = 2_000;

interface Position {
  /** The store's cursor of the chunk (undefined: the newest chunk). */
  c?: string | undefined;
  /** Rows of that chunk already handed out or passed over. */
  o: number;
}

/**
 * One page of decisions matching `filter`, newest first. Reads at most {@link MAX_SCANNED_PER_PAGE} rows;
 * a page may then hold fewer than `limit` items while `nextCursor` is still set. Stops early once rows are
 * older than `filter.from`.
 */
export async function queryDecisions(
  store: Pick<FaceStore, 'listAudit'>,
  filter: DecisionFilter,
  page: { limit: number; cursor?: string | undefined },
): Promise<Page<DecisionAuditEntry>> {
  let position = decodePosition(page.cursor);
  const items: DecisionAuditEntry[] = [];
  const source = filter.source?.toLowerCase();
  let scanned = 0;
  while (scanned < MAX_SCANNED_PER_PAGE) {
    const chunk = await store.listAudit({ limit: CHUNK, cursor: position.c });
    for (let i = position.o; i < chunk.items.length; i++) {
      const entry = chunk.items[i]!;
      scanned += 1;
      if (filter.from !== undefined && entry.at < filter.from) return { items };
      if (matches(entry, filter, source)) {
        items.push(entry);
        if (items.length === page.limit) {
          const next: Position =
            i + 1 < chunk.items.length ? { c: position.c, o: i + 1 } : { c: chunk.nextCursor, o: 0 };
          const more = i + 1 < chunk.items.length || chunk.nextCursor !== undefined;
          return { items, nextCursor: more ? encodePosition(next) : undefined };
        }
      }
    }
    if (chunk.nextCursor === undefined) return { items };
    position = { c: chunk.nextCursor, o: 0 };
  }
  return { items, nextCursor: encodePosition(position) };
}

function matches(entry: DecisionAuditEntry, filter: DecisionFilter, source: string | undefined): boolean {
  if (filter.decision !== undefined && entry.decision.kind !== filter.decision) return false;
  if (filter.operation !== undefined && entry.operation !== filter.operation) return false;
  if (source !== undefined && !entry.source.toLowerCase().includes(source)) return false;
  if (filter.to !== undefined && entry.at >= filter.to) return false;
  return true;
}

function encodePosition(position: Position): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

function decodePosition(cursor: string | undefined): Position {
  if (cursor === undefined) return { o: 0 };
  const invalid = new FaceprintError('INVALID_ARGUMENT', 'The cursor is not one this service handed out.');
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid;
  }
  const p = parsed as Partial<Position> | null;
  if (
    typeof p !== 'object' ||
    p === null ||
    !Number.isSafeInteger(p.o) ||
    (p.o as number) < 0 ||
    (p.c !== undefined && typeof p.c !== 'string')
  ) {
    throw invalid;
  }
  return { c: p.c, o: p.o as number };
}
