/** One subject: its photos (enrolment thumbnails), its templates, more photos, and deletion with the erasure explained. */
import { useEffect, useState } from 'preact/hooks';
import { enc, getJson, postImage, remove } from '../api.ts';
import {
  AuthImage,
  DropZone,
  ErrorMessage,
  fmt,
  messageOf,
  precheck,
  QualityBadge,
  when,
} from '../components.ts';
import { html } from '../html.ts';
import type { SubjectView } from '../types.ts';

export function SubjectPage({ id }: { id: string }) {
  const [subject, setSubject] = useState<SubjectView | undefined>();
  const [error, setError] = useState<unknown>();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [added, setAdded] = useState<{ file: string; ok: boolean; text: string }[]>([]);
  const [deleted, setDeleted] = useState(false);

  useEffect(() => {
    setSubject(undefined);
    setError(undefined);
    getJson<SubjectView>(`subjects/${enc(id)}`).then(setSubject, setError);
  }, [id]);

  if (deleted) {
    return html`<div class="page"><h1>Subject deleted</h1>
      <p class="message ok" role="status">${id} and all of its face data were erased.</p>
      <p><a href="#/subjects">Back to the subjects</a></p></div>`;
  }
  if (error) {
    return html`<div class="page"><h1>Subject</h1><${ErrorMessage} error=${error} />
      <p><a href="#/subjects">Back to the subjects</a></p></div>`;
  }
  if (!subject) return html`<div class="page"><p role="status">Loading…</p></div>`;

  const photos = subject.templates.filter((t) => t.variant === 'original');
  const addPhotos = async (files: File[]) => {
    setBusy(true);
    const results: typeof added = [];
    for (const file of files) {
      const refused = precheck(file);
      if (refused) {
        results.push({ file: file.name, ok: false, text: refused });
        continue;
      }
      try {
        setSubject(await postImage<SubjectView>(`subjects/${enc(subject.id)}/faces`, file));
        results.push({ file: file.name, ok: true, text: 'added' });
      } catch (e) {
        results.push({ file: file.name, ok: false, text: messageOf(e) });
      }
      setAdded([...results]);
    }
    setAdded(results);
    setBusy(false);
  };
  const doDelete = async () => {
    setBusy(true);
    try {
      await remove(`subjects/${enc(subject.id)}`);
      setDeleted(true);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return html`<div class="page">
    <p><a href="#/subjects">← Subjects</a></p>
    <h1>${subject.name}</h1>
    <dl class="facts">
      <dt>Id</dt><dd><code>${subject.id}</code></dd>
      <dt>Enrolled</dt><dd>${when(subject.createdAt)}</dd>
      ${Object.entries(subject.metadata).map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}
    </dl>
    <section class="card" aria-labelledby="photos-title">
      <h2 id="photos-title">Photos (${photos.length})</h2>
      <ul class="photos">
        ${photos.map(
          (t) => html`<li>
            <${AuthImage} path=${`subjects/${enc(subject.id)}/templates/${enc(t.id)}/thumbnail`} alt=${`Enrolled face of ${subject.name} from ${t.source}`} className="thumb" />
            <div>${t.source}</div><${QualityBadge} quality=${t.quality} />
          </li>`,
        )}
      </ul>
      <${DropZone} label="Add photos" multiple=${true} disabled=${busy} onFiles=${addPhotos} />
      ${added.length > 0 ? html`<ul class="results">${added.map((r) => html`<li class=${r.ok ? 'ok' : 'refused'}><strong>${r.file}</strong>: ${r.text}</li>`)}</ul>` : null}
    </section>
    <section class="card" aria-labelledby="templates-title">
      <h2 id="templates-title">Templates (${subject.templates.length})</h2>
      <p class="hint">Each photo is stored as its own embedding plus degradation-matched variants (mirrored, blurred, dark, low resolution, JPEG) so that a clean photo also matches poor camera stills.</p>
      <table>
        <thead><tr><th scope="col">Variant</th><th scope="col">Source</th><th scope="col">Quality</th><th scope="col">Created</th></tr></thead>
        <tbody>${subject.templates.map(
          (t) =>
            html`<tr><td>${t.variant}</td><td>${t.source}</td><td>${fmt(t.quality.score, 2)}</td><td>${when(t.createdAt)}</td></tr>`,
        )}</tbody>
      </table>
    </section>
    <section class="card danger" aria-labelledby="delete-title">
      <h2 id="delete-title">Delete</h2>
      ${
        confirming
          ? html`<div role="alertdialog" aria-labelledby="erase-title" aria-describedby="erase-text">
            <h3 id="erase-title">Erase ${subject.name}?</h3>
            <p id="erase-text">This permanently erases the subject record, its ${subject.templates.length} templates (face
              embeddings), the ${photos.length} enrolment thumbnail(s) and its entries in the search index. Nobody will be
              matched to ${subject.name} afterwards. Decisions already in the audit log keep the subject id and the scores,
              never a face image. It cannot be undone.</p>
            <button type="button" class="danger" disabled=${busy} onClick=${doDelete}>Delete permanently</button>
            <button type="button" disabled=${busy} onClick=${() => setConfirming(false)}>Cancel</button>
          </div>`
          : html`<button type="button" class="danger" onClick=${() => setConfirming(true)}>Delete ${subject.name}…</button>`
      }
    </section>
  </div>`;
}
