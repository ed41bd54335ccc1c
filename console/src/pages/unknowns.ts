/**
 * Unknown persons (shown only where the server has `GET /unknowns`): faces seen repeatedly but not in the
 * gallery, with their sightings; promote one to a subject, merge two, or dismiss one.
 */
import { useEffect, useState } from 'preact/hooks';
import { enc, getJson, postJson, query, remove } from '../api.ts';
import { AuthImage, ErrorMessage, QualityBadge, when } from '../components.ts';
import { html } from '../html.ts';
import type { Page, UnknownPerson } from '../types.ts';

function UnknownDetail({ id, onChanged }: { id: string; onChanged: (text: string) => void }) {
  const [person, setPerson] = useState<UnknownPerson | undefined>();
  const [error, setError] = useState<unknown>();
  const [name, setName] = useState('');
  const [into, setInto] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    getJson<UnknownPerson>(`unknowns/${enc(id)}`).then(setPerson, setError);
  }, [id]);
  const act = async (work: () => Promise<unknown>, text: string) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
      onChanged(text);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  if (!person) return html`<${ErrorMessage} error=${error} />`;
  return html`<section class="card" aria-labelledby="unknown-title">
    <h2 id="unknown-title">Unknown ${person.id.slice(0, 8)}: ${person.sightingCount} sighting(s), last ${when(person.lastSeenAt)}</h2>
    <ul class="photos">
      ${(person.sightings ?? []).map(
        (s) => html`<li>
          <${AuthImage} path=${`unknowns/${enc(person.id)}/sightings/${enc(s.id)}/crop`} alt=${`Sighting at ${when(s.at)}`} className="thumb" />
          <div>${when(s.at)}</div><div><code>${s.source}</code></div><${QualityBadge} quality=${s.quality} />
        </li>`,
      )}
    </ul>
    <form class="row" onSubmit=${(e: Event) => {
      e.preventDefault();
      if (name.trim())
        void act(
          () => postJson(`unknowns/${enc(person.id)}/promote`, { name: name.trim() }),
          `Promoted to subject ${name.trim()}.`,
        );
    }}>
      <label>Name <input value=${name} required onInput=${(e: Event) => setName((e.currentTarget as HTMLInputElement).value)} /></label>
      <button type="submit" disabled=${busy}>Promote to subject</button>
    </form>
    <form class="row" onSubmit=${(e: Event) => {
      e.preventDefault();
      if (into.trim())
        void act(() => postJson(`unknowns/${enc(person.id)}/merge`, { into: into.trim() }), 'Merged.');
    }}>
      <label>Merge into unknown id <input value=${into} required onInput=${(e: Event) => setInto((e.currentTarget as HTMLInputElement).value)} /></label>
      <button type="submit" disabled=${busy}>Merge</button>
    </form>
    <button type="button" class="danger" disabled=${busy} onClick=${() => act(() => remove(`unknowns/${enc(person.id)}`), 'Dismissed: its sightings and crops were erased.')}>Dismiss</button>
    <${ErrorMessage} error=${error} />
  </section>`;
}

export function UnknownsPage() {
  const [sort, setSort] = useState<'recent' | 'frequent'>('recent');
  const [items, setItems] = useState<UnknownPerson[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [open, setOpen] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState<string | undefined>();
  const [reload, setReload] = useState(0);
  const load = (cursor?: string) =>
    getJson<Page<UnknownPerson>>(`unknowns${query({ sort, cursor })}`).then((p) => {
      setItems((old) => (cursor ? [...old, ...p.items] : p.items));
      setNext(p.nextCursor);
    }, setError);
  useEffect(() => {
    void load();
  }, [sort, reload]);
  return html`<div class="page">
    <h1>Unknown persons</h1>
    <div class="field"><label for="u-sort">Sort</label><select id="u-sort" value=${sort} onChange=${(e: Event) => setSort((e.currentTarget as HTMLSelectElement).value as 'recent' | 'frequent')}>
      <option value="recent">most recent</option><option value="frequent">most frequent</option></select></div>
    ${done ? html`<p class="message ok" role="status">${done}</p>` : null}
    <${ErrorMessage} error=${error} />
    <table>
      <thead><tr><th scope="col">Unknown</th><th scope="col">Sightings</th><th scope="col">First seen</th><th scope="col">Last seen</th></tr></thead>
      <tbody>${items.map(
        (
          u,
        ) => html`<tr><td><button type="button" class="link" onClick=${() => setOpen(u.id)}>${u.id.slice(0, 8)}</button></td>
          <td>${u.sightingCount}</td><td>${when(u.createdAt)}</td><td>${when(u.lastSeenAt)}</td></tr>`,
      )}</tbody>
    </table>
    ${items.length === 0 && !error ? html`<p>No unknown persons.</p>` : null}
    ${next ? html`<button type="button" onClick=${() => load(next)}>More</button>` : null}
    ${
      open
        ? html`<${UnknownDetail} key=${open} id=${open} onChanged=${(text: string) => {
            setDone(text);
            setOpen(undefined);
            setReload((n) => n + 1);
          }} />`
        : null
    }
  </div>`;
}
