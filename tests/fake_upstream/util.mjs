// Shared helpers of the fake upstream: deterministic hashing, volatile ids, text extraction.
import { createHash, randomBytes } from 'node:crypto';

// JSON with object members sorted, so the hash of a request does not depend on member order.
export function stableStringify(value) {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

// Fields that select the transport, not the answer: a stream and a non-stream request with otherwise
// equal bodies get the same answer text (deja serves one cache entry in both forms).
const TRANSPORT_FIELDS = ['stream', 'stream_options'];

// Short, deterministic digest of a request body.
export function requestHash(body) {
  const copy = { ...body };
  for (const f of TRANSPORT_FIELDS) delete copy[f];
  return createHash('sha256').update(stableStringify(copy)).digest('hex').slice(0, 8);
}

// Per-call random id, like providers' `chatcmpl-…`, `msg_…`, `call_…`.
export function volatileId(prefix, bytes = 12) {
  return prefix + randomBytes(bytes).toString('hex');
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

// Text of a content value in any of the shapes the APIs accept: a string, or an array of parts
// ({type:"text"|"input_text"|"output_text", text} or Anthropic tool_result blocks).
export function contentText(content) {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => {
        if (typeof part === 'string') return part;
        if (part && typeof part.text === 'string') return part.text;
        if (part && part.type === 'tool_result') return contentText(part.content);
        return '';
      })
      .filter((s) => s.length > 0)
      .join(' ');
  }
  return '';
}

// Text of the last turn that asks for an answer: the last user message, or a tool result
// (chat `role: "tool"`, responses `function_call_output`) that came after it.
export function lastUserText(messages) {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m && m.role === 'user') return contentText(m.content);
    if (m && m.role === 'tool') return `tool result: ${contentText(m.content)}`;
    if (m && m.type === 'function_call_output') return `tool result: ${String(m.output ?? '')}`;
  }
  return '';
}

// True when the conversation ends with a tool's answer: a model then replies in text, not with
// another tool call.
export function endsWithToolResult(messages) {
  const m = Array.isArray(messages) ? messages.at(-1) : null;
  if (!m) return false;
  if (m.role === 'tool' || m.type === 'function_call_output') return true;
  return m.role === 'user' && Array.isArray(m.content) && m.content.some((b) => b?.type === 'tool_result');
}

// Test knobs set through the control endpoints (POST /__fake/variant); reset clears them.
export const knobs = { variant: null };

// `variant` ({match, suffix}, from POST /__fake/variant): answers to texts containing `match` get
// `suffix` appended, so a test can make the "same" upstream answer some requests differently.
export function echoText(userText, hash, suffix = '') {
  const v = knobs.variant;
  const changed = v && (userText ?? '').includes(v.match) ? v.suffix : '';
  return `echo: ${userText || '(empty)'}${suffix}${changed} [${hash}]`;
}

export const wantsWeatherTool = (tools, text, messages) =>
  Array.isArray(tools) && tools.length > 0 && /weather/i.test(text) && !endsWithToolResult(messages);

// {"location": "..."} from "... weather in Paris ..."; deterministic in the text.
export function weatherArguments(text) {
  const m = /weather\s+in\s+([A-Za-z][A-Za-z .'-]*?)\s*(?:[?.!,]|$)/i.exec(text);
  return { location: m ? m[1].trim() : 'unknown' };
}

// Splits text into stream pieces: words with their trailing whitespace.
export function pieces(text) {
  const out = text.match(/\S+\s*|\s+/g);
  return out && out.length > 0 ? out : [''];
}

export const countTokens = (text) => (String(text).match(/\S+/g) || []).length;

// Splits a string into `n` nearly equal parts (for streaming tool-call arguments).
export function splitInto(s, n) {
  const size = Math.max(1, Math.ceil(s.length / n));
  const out = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out.length > 0 ? out : [''];
}
