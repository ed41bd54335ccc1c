import { describe, expect, it } from 'vitest';
import {
  isVideoUpload,
  SNIFF_BYTES,
  sniffVideoContainer,
  videoByName,
} from '../../functions/core/video/sniff.ts';
import { manifestKind, parseManifest } from '../../functions/handlers/batch.ts';

const bytes = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));

describe('which uploads are videos', () => {
  it('recognises the containers by their first bytes', () => {
    expect(sniffVideoContainer(bytes([0, 0, 0, 0x20], 'ftypisom'))).toBe('mp4');
    expect(sniffVideoContainer(bytes([0, 0, 0, 0x14], 'ftypqt  '))).toBe('mp4');
    expect(sniffVideoContainer(bytes([0x1a, 0x45, 0xdf, 0xa3, 0x01]))).toBe('matroska');
    expect(sniffVideoContainer(bytes('RIFF', [0, 0, 0, 0], 'AVI LIST'))).toBe('avi');
    const ts = new Uint8Array(SNIFF_BYTES);
    ts[0] = 0x47;
    ts[188] = 0x47;
    expect(sniffVideoContainer(ts)).toBe('mpegts');
  });

  it('does not take images or text for videos', () => {
    expect(sniffVideoContainer(bytes([0xff, 0xd8, 0xff, 0xe0], 'JFIF'))).toBeUndefined();
    expect(sniffVideoContainer(bytes([0x89], 'PNG', [13, 10, 26, 10]))).toBeUndefined();
    expect(sniffVideoContainer(bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8 '))).toBeUndefined();
    // One 0x47 byte is not a transport stream (a text file starting with "G").
    expect(sniffVideoContainer(bytes('GIF89a and then some'))).toBeUndefined();
    expect(sniffVideoContainer(new Uint8Array(0))).toBeUndefined();
  });

  it('goes by the extension first, by the content only for other names', () => {
    expect(videoByName('uploads/cam1/clip.MP4')).toBe('video');
    expect(videoByName('uploads/cam1/frame.jpg')).toBe('image');
    expect(videoByName('uploads/cam1/0001')).toBe('unknown');
    const mp4 = bytes([0, 0, 0, 0x20], 'ftypisom');
    expect(isVideoUpload('uploads/a.jpg', mp4)).toBe(false);
    expect(isVideoUpload('uploads/a.mkv')).toBe(true);
    expect(isVideoUpload('uploads/cam/0001', mp4)).toBe(true);
    expect(isVideoUpload('uploads/cam/0001')).toBe(false);
    expect(isVideoUpload('uploads/.hidden', mp4)).toBe(true);
  });
});

describe('Batch manifest kinds', () => {
  it('a video manifest keeps the manifest format: its keys parse as before', () => {
    const text = JSON.stringify({ kind: 'video', keys: [{ key: 'uploads/a', eTag: 'x' }] });
    expect(manifestKind(text)).toBe('video');
    expect(parseManifest(text)).toEqual(['uploads/a']);
  });

  it('every other manifest is an ingest job; an unknown kind is refused', () => {
    expect(manifestKind('["batch/a.jpg"]')).toBe('ingest');
    expect(manifestKind('{"keys": ["batch/a.jpg"]}')).toBe('ingest');
    expect(manifestKind('batch/a.jpg\nbatch/b.jpg\n')).toBe('ingest');
    expect(() => manifestKind('{"kind": "resize", "keys": []}')).toThrow(/kind "resize"/);
  });
});
