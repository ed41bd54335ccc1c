/**
 * Review queue (shown only where the server has `GET /reviews`): pending decisions with the probe crop and the
 * candidate's enrolled face side by side; confirm or reject, with an optional note.
 */
import { useEffect, useState } from 'preact/hooks';
import { enc, getJson, postJson, query } from '../api.ts';
import { AuthImage, DecisionBadge, ErrorMessage, QualityBadge, SimilarityBar, when } from '../components.ts';
import { html } from '../html.ts';
import type { Page, Review } from '../types.ts';

function ReviewCard({ review, onDone }: { review: Review; onDone: (r: Review) => void }) {
  const [note, setNote] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const d = review.decision;
  const verdict = async (v: 'confirm' | 'reject') => {
    setBusy(true);
    setError(undefined);
    try {
      onDone(await postJson<Review>(`reviews/${enc(review.id)}`, { verdict: v, ...(note ? { note } : {}) }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<article class="card review" aria-labelledby=${`review-${review.id}`}>
    <h3 id=${`review-${review.id}`}><${DecisionBadge} decision=${d} /> <small>${when(review.createdAt)} · ${review.operation} · <code>${review.source}</code> · face #${review.faceIndex + 1}</small></h3>
    <div class="evidence">
      <figure><${AuthImage} path=${`reviews/${enc(review.id)}/crop`} alt="The face under review" className="thumb" /><figcaption>probe</figcaption></figure>
      ${
        d.subjectId
          ? html`<figure><${AuthImage} path=${`subjects/${enc(d.subjectId)}/thumbnail`} alt=${`Enrolled face of ${d.subjectName ?? d.subjectId}`} className="thumb" /><figcaption>${d.subjectName ?? d.subjectId}</figcaption></figure>`
          : null
      }
      <div>
        <${SimilarityBar} similarity=${d.similarity} threshold=${d.threshold} />
        <p><${QualityBadge} quality=${review.quality} /></p>
      </div>
    </div>
    ${
      review.status === 'pending'
        ? html`<div class="row">
          <label>Note <input value=${note} maxlength="500" onInput=${(e: Event) => setNote((e.currentTarget as HTMLInputElement).value)} /></label>
          <button type="button" disabled=${busy} onClick=${() => verdict('confirm')}>Confirm match</button>
          <button type="button" class="danger" disabled=${busy} onClick=${() => verdict('reject')}>Reject match</button>
        </div>`
        : html`<p>${review.status} ${review.reviewer ? `by ${review.reviewer}` : ''} ${review.reviewedAt ? when(review.reviewedAt) : ''} ${review.note ? `— ${review.note}` : ''}</p>`
    }
    <${ErrorMessage} error=${error} />
  </article>`;
}

export function ReviewsPage() {
  const [status, setStatus] = useState<'pending' | 'confirmed' | 'rejected'>('pending');
  const [items, setItems] = useState<Review[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<string | undefined>();

  const load = (cursor?: string) =>
    getJson<Page<Review>>(`reviews${query({ status, limit: 20, cursor })}`).then((p) => {
      setItems((old) => (cursor ? [...old, ...p.items] : p.items));
      setNext(p.nextCursor);
    }, setError);
  useEffect(() => {
    setError(undefined);
    void load();
  }, [status]);

  return html`<div class="page">
    <h1>Review queue</h1>
    <div class="tabs" role="group" aria-label="Review status">
      ${(['pending', 'confirmed', 'rejected'] as const).map(
        (s) =>
          html`<button type="button" aria-pressed=${s === status ? 'true' : 'false'} onClick=${() => setStatus(s)}>${s}</button>`,
      )}
    </div>
    ${done ? html`<p class="message ok" role="status">${done}</p>` : null}
    <${ErrorMessage} error=${error} />
    ${items.length === 0 && !error ? html`<p>No ${status} reviews.</p>` : null}
    ${items.map(
      (r) =>
        html`<${ReviewCard} key=${r.id} review=${r} onDone=${(updated: Review) => {
          setDone(`Review ${updated.id.slice(0, 8)} ${updated.status}.`);
          setItems((old) => old.filter((x) => x.id !== updated.id || updated.status === status));
        }} />`,
    )}
    ${next ? html`<button type="button" onClick=${() => load(next)}>More</button>` : null}
  </div>`;
}
