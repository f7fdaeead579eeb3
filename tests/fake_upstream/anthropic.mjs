// Anthropic wire format of the fake upstream: POST /v1/messages (JSON and SSE) and GET /v1/models.
import {
  countTokens,
  echoText,
  lastUserText,
  pieces,
  requestHash,
  splitInto,
  volatileId,
  wantsWeatherTool,
  weatherArguments,
} from './util.mjs';

export function anthropicError(status, type, message) {
  return { status, json: { type: 'error', error: { type, message } } };
}

export function messages(body) {
  if (!Number.isInteger(body.max_tokens)) {
    return anthropicError(400, 'invalid_request_error', 'max_tokens: Field required');
  }
  if (!Array.isArray(body.messages)) return anthropicError(400, 'invalid_request_error', 'messages: Field required');
  const text = lastUserText(body.messages);
  const tool = wantsWeatherTool(body.tools, text, body.messages) ? body.tools[0]?.name ?? 'tool' : null;
  const content = tool
    ? [
        { type: 'text', text: 'Let me check the weather.' },
        { type: 'tool_use', id: volatileId('toolu_'), name: tool, input: weatherArguments(text) },
      ]
    : [{ type: 'text', text: echoText(text, requestHash(body)) }];
  const stopReason = tool ? 'tool_use' : 'end_turn';
  const inputTokens = countTokens(JSON.stringify(body.messages) + JSON.stringify(body.system ?? ''));
  const outputTokens = content.reduce((s, b) => s + countTokens(b.text ?? JSON.stringify(b.input)), 0);
  const usage = {
    input_tokens: inputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
  const message = {
    id: volatileId('msg_'),
    type: 'message',
    role: 'assistant',
    model: body.model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage,
  };
  if (!body.stream) return { status: 200, json: message };

  const frames = [];
  const ev = (type, fields) => frames.push({ event: type, data: { type, ...fields } });
  ev('message_start', {
    message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } },
  });
  content.forEach((block, index) => {
    if (block.type === 'text') {
      ev('content_block_start', { index, content_block: { type: 'text', text: '' } });
      if (index === 0) ev('ping', {});
      for (const p of pieces(block.text)) ev('content_block_delta', { index, delta: { type: 'text_delta', text: p } });
    } else {
      ev('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      for (const part of splitInto(JSON.stringify(block.input), 3)) {
        ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: part } });
      }
    }
    ev('content_block_stop', { index });
  });
  ev('message_delta', {
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: outputTokens },
  });
  ev('message_stop', {});
  return { status: 200, sse: frames };
}

export function listModels(models) {
  const data = models.map((id) => ({ type: 'model', id, display_name: id, created_at: '2024-01-01T00:00:00Z' }));
  return { status: 200, json: { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null } };
}
