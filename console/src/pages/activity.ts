/** Activity: recent decisions from the audit log (uploads, S3 ingest, video, API), filtered, with their evidence. */
import { useEffect, useState } from 'preact/hooks';
import { enc, getJson, query } from '../api.ts';
import { DecisionBadge, ErrorMessage, fmt, QualityBadge, when } from '../components.ts';
import { html } from '../html.ts';
import type { AuditEntry, Page } from '../types.ts';

interface Filter {
  decision: string;
  source: string;
  operation: string;
  from: string;
  to: string;
}

const iso = (local: string) => (local ? new Date(local).toISOString() : undefined);

export function ActivityPage() {
  const [filter, setFilter] = useState<Filter>({ decision: '', source: '', operation: '', from: '', to: '' });
  const [applied, setApplied] = useState<Filter>(filter);
  const [items, setItems] = useState<AuditEntry[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const load = async (cursor?: string) => {
    setBusy(true);
    setError(undefined);
    try {
      const page = await getJson<Page<AuditEntry>>(
        `decisions${query({
          limit: 50,
          cursor,
          decision: applied.decision || undefined,
          source: applied.source || undefined,
          operation: applied.operation || undefined,
          from: iso(applied.from),
          to: iso(applied.to),
        })}`,
      );
      setItems((old) => (cursor ? [...old, ...page.items] : page.items));
      setNext(page.nextCursor);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    void load();
  }, [applied]);

  const field = (key: keyof Filter) => (e: Event) =>
    setFilter({ ...filter, [key]: (e.currentTarget as HTMLInputElement).value });

  return html`<div class="page">
    <h1>Activity</h1>
    <form class="card filters" aria-label="Filter decisions" onSubmit=${(e: Event) => {
      e.preventDefault();
      setApplied(filter);
    }}>
      <div class="field"><label for="f-decision">Decision</label>
        <select id="f-decision" value=${filter.decision} onChange=${field('decision')}>
          <option value="">any</option><option value="match">match</option>
          <option value="ambiguous">ambiguous</option><option value="unknown">unknown</option>
        </select>
      </div>
      <label>Source or camera <input value=${filter.source} placeholder="uploads/door/" onInput=${field('source')} /></label>
      <div class="field"><label for="f-operation">Operation</label>
        <select id="f-operation" value=${filter.operation} onChange=${field('operation')}>
          <option value="">any</option><option value="identify">identify</option><option value="verify">verify</option>
          <option value="ingest">ingest</option><option value="video">video</option>
        </select>
      </div>
      <label>From <input type="datetime-local" value=${filter.from} onInput=${field('from')} /></label>
      <label>To <input type="datetime-local" value=${filter.to} onInput=${field('to')} /></label>
      <button type="submit">Apply</button>
    </form>
    <${ErrorMessage} error=${error} />
    <table class="activity">
      <thead><tr><th scope="col">Time</th><th scope="col">Source</th><th scope="col">Face</th><th scope="col">Decision</th>
        <th scope="col">Similarity / threshold</th><th scope="col">Quality</th><th scope="col">Best candidates</th></tr></thead>
      <tbody>
        ${items.map(
          (a) => html`<tr>
            <td>${when(a.at)}</td>
            <td><span class="op">${a.operation}</span> <code>${a.source}</code></td>
            <td>#${a.faceIndex + 1}</td>
            <td><${DecisionBadge} decision=${a.decision} /></td>
            <td>${fmt(a.decision.similarity)} ${a.decision.similarity >= a.decision.threshold ? '≥' : '<'} ${fmt(a.decision.threshold)}</td>
            <td><${QualityBadge} quality=${a.quality} /></td>
            <td>${(a.decision.candidates ?? [])
              .slice(0, 3)
              .map(
                (c) =>
                  html`<a href=${`#/subjects/${enc(c.subjectId)}`}>${c.subjectId}</a> ${fmt(c.similarity, 2)} `,
              )}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${!busy && items.length === 0 && !error ? html`<p>No decisions match.</p>` : null}
    ${busy ? html`<p role="status">Loading…</p>` : null}
    ${next ? html`<button type="button" onClick=${() => load(next)} disabled=${busy}>Load older decisions</button>` : null}
  </div>`;
}
