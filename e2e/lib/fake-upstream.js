// A model server that answers like llama-server's OpenAI-compatible API, at once and with
// deterministic usage numbers, run as its own process by the tests:
//
//   node e2e/lib/fake-upstream.js <port>
//
// - POST /v1/chat/completions and /v1/completions, plain or streamed (SSE), with `usage`
//   (prompt tokens: the words of the prompt; completion tokens: 5, or `max_tokens` if lower)
//   and, when `stream_options.include_usage` is set, the usage chunk before `[DONE]`;
// - `metadata.delay_ms` in a request delays its answer (to overlap concurrent requests);
// - `metadata.no_usage` answers without usage;
// - `metadata.chunk_delay_ms` waits that long before each streamed chunk (a long answer);
// - `metadata.break_after` breaks a stream off (the connection is destroyed) after that many
//   chunks;
// - POST /tokenize counts a text's words (`{"content"}` → `{"tokens": [...]}`, as
//   llama-server answers); GET /v1/models answers (the gateway's health check);
// - GET /_requests lists the requests received (method, path, body), for the tests.

import http from 'node:http';

const port = Number(process.argv[2] ?? 8081);
const requests = [];

const words = (value) => {
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean).length;
  if (Array.isArray(value)) return value.reduce((n, m) => n + words(m?.content ?? m), 0);
  return 0;
};

const server = http.createServer(async (req, res) => {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  if (req.method === 'GET' && req.url === '/_requests') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(requests));
    return;
  }
  if (req.method === 'GET' && req.url === '/v1/models') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[]}');
    return;
  }
  let body = {};
  try { body = JSON.parse(raw || '{}'); } catch { res.writeHead(400).end('bad json'); return; }
  if (req.method === 'POST' && req.url === '/tokenize') {
    const count = words(body.content ?? body.prompt ?? '');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ tokens: Array(count).fill(0) }));
    return;
  }
  requests.push({ method: req.method, path: req.url, body });
  const chat = req.url === '/v1/chat/completions';
  if (req.method !== 'POST' || !(chat || req.url === '/v1/completions')) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
    return;
  }
  const delay = Number(body.metadata?.delay_ms ?? 0);
  if (delay) await new Promise((resolve) => setTimeout(resolve, delay));
  const promptTokens = words(chat ? body.messages : body.prompt);
  const completionTokens = Math.min(5, body.max_tokens ?? 5);
  const usage = body.metadata?.no_usage ? undefined : {
    prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens,
  };
  const id = `cmpl-${requests.length}`;
  const created = Math.floor(Date.now() / 1000);
  const text = 'Hello from the fake model';
  if (!body.stream) {
    const choice = chat
      ? { index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }
      : { index: 0, text, finish_reason: 'stop' };
    const answer = { id, object: chat ? 'chat.completion' : 'text_completion', created, model: body.model, choices: [choice] };
    if (usage) answer.usage = usage;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const object = chat ? 'chat.completion.chunk' : 'text_completion';
  const send = (data) => res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  const piece = (content, finish = null) => (chat
    ? { index: 0, delta: content === null ? {} : { content }, finish_reason: finish }
    : { index: 0, text: content ?? '', finish_reason: finish });
  const chunkDelay = Number(body.metadata?.chunk_delay_ms ?? 0);
  const breakAfter = body.metadata?.break_after === undefined ? Infinity : Number(body.metadata.break_after);
  let sent = 0;
  for (const part of ['Hello ', 'from ', 'the fake model']) {
    if (sent === breakAfter) {
      // Out go the chunks written so far, then the connection breaks (no `[DONE]`, no end).
      await new Promise((resolve) => res.write('', resolve));
      await new Promise((resolve) => setTimeout(resolve, 50));
      res.destroy();
      return;
    }
    if (chunkDelay) await new Promise((resolve) => setTimeout(resolve, chunkDelay));
    send({ id, object, created, model: body.model, choices: [piece(part)] });
    sent += 1;
  }
  send({ id, object, created, model: body.model, choices: [piece(null, 'stop')] });
  if (usage && body.stream_options?.include_usage) {
    send({ id, object, created, model: body.model, choices: [], usage });
  }
  send('[DONE]');
  res.end();
});

server.listen(port, '127.0.0.1', () => console.log(`fake upstream on ${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
