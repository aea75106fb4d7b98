/**
 * A server transport that carries one JSON-RPC request at a time and hands back its response as a
 * message, for /mcp's common case: one request in a POST, answered as one JSON body. It is what the
 * SDK's StreamableHTTPServerTransport does in stateless JSON-response mode for that case, without
 * converting Node's request and response to web-standard Request/Response objects and back (a
 * Headers object, a web stream and a body copy per call), and without a fresh transport per request:
 * a pooled server stays connected to its own JsonRequestTransport, and the pool lends a server to
 * one HTTP request at a time, so JSON-RPC ids from different callers never meet in one transport.
 * Everything else (batches, notifications, initialisation errors, bad headers) still goes through
 * the SDK's transport (api/mcp/route.ts decides).
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, JSONRPCRequest, MessageExtraInfo, RequestId } from '@modelcontextprotocol/sdk/types.js';

/** A response message (result or error) for one request id. */
function responseId(message: JSONRPCMessage): RequestId | undefined {
  return 'id' in message && ('result' in message || 'error' in message) ? message.id : undefined;
}

export class JsonRequestTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: Transport['onclose'];
  onerror?: Transport['onerror'];
  private pending: {
    id: RequestId;
    resolve: (message: JSONRPCMessage) => void;
    reject: (error: Error) => void;
  } | null = null;
  private closed = false;

  async start(): Promise<void> {}

  /**
   * Delivers `request` to the connected server; resolves with the server's response to it. Other
   * messages the server sends meanwhile (notifications, requests to the client) have no stream to
   * go to in JSON-response mode and are dropped, as the SDK's transport drops them. Rejects when
   * the transport is closed first.
   */
  request(request: JSONRPCRequest, extra: MessageExtraInfo): Promise<JSONRPCMessage> {
    if (this.closed) return Promise.reject(new Error('transport closed'));
    if (this.pending) return Promise.reject(new Error('transport busy: one request at a time'));
    return new Promise((resolve, reject) => {
      this.pending = { id: request.id, resolve, reject };
      this.onmessage?.(request, extra);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const id = responseId(message);
    const pending = this.pending;
    if (id === undefined || pending === null || pending.id !== id) return;
    this.pending = null;
    pending.resolve(message);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pending = this.pending;
    this.pending = null;
    pending?.reject(new Error('transport closed before the response'));
    this.onclose?.();
  }
}
