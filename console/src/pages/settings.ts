/** Settings: the API key (kept in this browser), the calibration and thresholds in use, the index. */
import { useEffect, useState } from 'preact/hooks';
import { credentials, getJson } from '../api.ts';
import { ErrorMessage, fmt, when } from '../components.ts';
import { html } from '../html.ts';
import type { Health, Settings } from '../types.ts';

/** The key form; also the console's gate when the server wants a key. */
export function KeyForm({ onSaved, intro }: { onSaved: () => void; intro?: string }) {
  const [key, setKey] = useState(credentials.apiKey());
  const [token, setToken] = useState(credentials.idToken());
  const [remember, setRemember] = useState(credentials.remembered());
  return html`<form class="card" aria-labelledby="key-title" onSubmit=${(e: Event) => {
    e.preventDefault();
    credentials.save(key.trim(), token.trim(), remember);
    onSaved();
  }}>
    <h2 id="key-title">API key</h2>
    ${intro ? html`<p role="alert" class="message">${intro}</p>` : null}
    <label>API key (sent as <code>x-api-key</code>)
      <input type="password" name="apiKey" autocomplete="current-password" value=${key}
        onInput=${(e: Event) => setKey((e.currentTarget as HTMLInputElement).value)} /></label>
    <label>ID token (AWS with Cognito only, sent as <code>Authorization</code>)
      <input type="password" name="idToken" value=${token}
        onInput=${(e: Event) => setToken((e.currentTarget as HTMLInputElement).value)} /></label>
    <label class="check"><input type="checkbox" checked=${remember}
      onChange=${(e: Event) => setRemember((e.currentTarget as HTMLInputElement).checked)} />
      Remember on this computer (otherwise forgotten when the tab closes)</label>
    <button type="submit">Save</button>
  </form>`;
}

export function SettingsPage({ onKeySaved }: { onKeySaved: () => void }) {
  const [settings, setSettings] = useState<Settings | undefined>();
  const [health, setHealth] = useState<Health | undefined>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    getJson<Settings>('settings').then(setSettings, setError);
    getJson<Health>('health').then(setHealth, () => undefined);
  }, []);
  const c = settings?.calibration;
  return html`<div class="page">
    <h1>Settings</h1>
    <${KeyForm} onSaved=${onKeySaved} />
    <${ErrorMessage} error=${error} />
    ${
      c && settings
        ? html`<section class="card" aria-labelledby="cal-title">
          <h2 id="cal-title">Calibration in use</h2>
          <dl class="facts">
            <dt>Id</dt><dd><code>${c.id}</code> (${when(c.createdAt)})</dd>
            <dt>Open-set threshold</dt><dd>${fmt(c.threshold, 4)} for a false-positive identification rate of ${(c.targetFpir * 100).toFixed(1)}%</dd>
            <dt>Measured at it</dt><dd>TPIR ${(c.measured.tpirAtThreshold * 100).toFixed(2)}%, FPIR ${(c.measured.fpirAtThreshold * 100).toFixed(2)}%</dd>
            <dt>1:1 verify threshold</dt><dd>${fmt(c.verifyThreshold, 4)} (FAR ${c.targetFar})</dd>
            <dt>Ambiguity margin</dt><dd>${fmt(c.ambiguityMargin, 3)}</dd>
            <dt>Calibrated on</dt><dd>${c.dataset.description}: ${c.dataset.identities} identities, ${c.dataset.matedProbes} mated and ${c.dataset.nonMatedProbes} stranger probes</dd>
            <dt>Method</dt><dd>${c.method}</dd>
            <dt>Enrolment quality floor</dt><dd>${fmt(settings.minEnrolQuality, 2)}</dd>
            <dt>Candidates per face</dt><dd>${settings.topK}</dd>
            <dt>Template variants</dt><dd>${settings.variants.join(', ')}</dd>
            <dt>Model</dt><dd>${settings.model.id} ${settings.model.version}</dd>
            ${health ? html`<dt>Index</dt><dd>${health.index.subjects} subjects, ${health.index.templates} templates (${health.index.kernel})</dd>` : null}
          </dl>
          <p class="hint">Thresholds come from <code>faceprint calibrate</code>; set <code>FACEPRINT_CALIBRATION</code> to use your own.</p>
        </section>`
        : null
    }
  </div>`;
}
