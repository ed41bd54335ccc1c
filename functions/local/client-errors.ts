/**
 * Requests that Node's HTTP parser refuses before the app sees them (a malformed Content-Length, headers or a
 * URL over the 16 KiB header limit, a header that never ends): without a `clientError` listener Node answers
 * them with a bare `400`/`431` and no body. This listener answers with the app's JSON error body instead, so
 * every error a client can still read has the same `{ error: { code, message } }` shape.
 *
 * @module
 */
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorResponse, type HttpErrorCode } from '../handlers/http/errors.ts';

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/** What to answer for a parser error code (`HPE_*` from llhttp, `ERR_HTTP_REQUEST_TIMEOUT` from node:http). */
export function clientErrorResponse(code: string | undefined): { code: HttpErrorCode; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        code: 'HEADERS_TOO_LARGE',
        message: 'The request line and headers are larger than the 16 KiB the server accepts.',
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { code: 'REQUEST_TIMEOUT', message: 'The request was not received in time.' };
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return { code: 'MALFORMED_REQUEST', message: 'The Content-Length header is not a valid length.' };
    default:
      return { code: 'MALFORMED_REQUEST', message: 'The request is not well-formed HTTP/1.1.' };
  }
}

/** Installs the JSON answer for parser-level errors on `server`. */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A reset or a half-closed socket cannot carry an answer.
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const { code, message } = clientErrorResponse(error.code);
    const { status, body } = errorResponse(code, message);
    const text = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${status} ${REASONS[status] ?? 'Bad Request'}\r\n` +
        'Content-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(text)}\r\n` +
        'Connection: close\r\n\r\n' +
        text,
    );
  });
}
