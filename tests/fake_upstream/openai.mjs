// OpenAI wire formats of the fake upstream: chat completions, completions, embeddings, responses, models.
// Each handler maps a parsed request body to a reply: {status, json} or {status, sse: [{event?, data}]}.
import { createHash } from 'node:crypto';
import {
  countTokens,
  echoText,
  lastUserText,
  nowSeconds,
  pieces,
  requestHash,
  splitInto,
  volatileId,
  wantsWeatherTool,
  weatherArguments,
} from './util.mjs';
import { isJudgeRequest, judgeAnswer } from './judge.mjs';

export function openaiError(status, message, type, code = null, param = null) {
  return { status, json: { error: { message, type, param, code } } };
}

const int = (v, dflt) => (Number.isInteger(v) && v > 0 ? v : dflt);

// ---------------------------------------------------------------- chat completions

function chatChoices(body) {
  if (isJudgeRequest(body.messages)) {
    const verdict = judgeAnswer(body.messages);
    return { choices: [{ index: 0, content: verdict, finish: 'stop' }], usage: usage(100, countTokens(verdict)) };
  }
  const text = lastUserText(body.messages);
  const hash = requestHash(body);
  const n = Math.min(int(body.n, 1), 8);
  const tool = wantsWeatherTool(body.tools, text, body.messages) ? body.tools[0]?.function?.name ?? 'tool' : null;
  const choices = [];
  for (let i = 0; i < n; i++) {
    if (tool) {
      const args = JSON.stringify(weatherArguments(text));
      choices.push({ index: i, tool: { id: volatileId('call_'), name: tool, args }, finish: 'tool_calls' });
    } else {
      choices.push({ index: i, content: echoText(text, hash, i > 0 ? ` #${i}` : ''), finish: 'stop' });
    }
  }
  const promptTokens = countTokens((body.messages ?? []).map((m) => JSON.stringify(m.content ?? '')).join(' '));
  const completionTokens = choices.reduce((s, c) => s + countTokens(c.content ?? c.tool.args), 0);
  return { choices, usage: usage(promptTokens, completionTokens) };
}

function usage(prompt, completion) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

export function chatCompletions(body) {
  const { choices, usage: u } = chatChoices(body);
  const head = { id: volatileId('chatcmpl-'), created: nowSeconds(), model: body.model };
  const fp = { system_fingerprint: 'fp_fake0001' };
  if (!body.stream) {
    return {
      status: 200,
      json: {
        ...head,
        object: 'chat.completion',
        choices: choices.map((c) => ({
          index: c.index,
          message: c.tool
            ? {
                role: 'assistant',
                content: null,
                refusal: null,
                annotations: [],
                tool_calls: [{ id: c.tool.id, type: 'function', function: { name: c.tool.name, arguments: c.tool.args } }],
              }
            : { role: 'assistant', content: c.content, refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: c.finish,
        })),
        usage: u,
        service_tier: 'default',
        ...fp,
      },
    };
  }
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (choicesArr) => ({
    data: {
      ...head,
      object: 'chat.completion.chunk',
      service_tier: 'default',
      ...fp,
      choices: choicesArr,
      ...(includeUsage ? { usage: null } : {}),
    },
  });
  const delta = (index, d, finish = null) => ({ index, delta: d, logprobs: null, finish_reason: finish });
  const frames = [];
  for (const c of choices) {
    if (c.tool) {
      frames.push(chunk([delta(c.index, {
        role: 'assistant',
        content: null,
        tool_calls: [{ index: 0, id: c.tool.id, type: 'function', function: { name: c.tool.name, arguments: '' } }],
        refusal: null,
      })]));
      for (const part of splitInto(c.tool.args, 3)) {
        frames.push(chunk([delta(c.index, { tool_calls: [{ index: 0, function: { arguments: part } }] })]));
      }
    } else {
      frames.push(chunk([delta(c.index, { role: 'assistant', content: '', refusal: null })]));
      for (const p of pieces(c.content)) frames.push(chunk([delta(c.index, { content: p })]));
    }
  }
  for (const c of choices) frames.push(chunk([delta(c.index, {}, c.finish)]));
  if (includeUsage) frames.push({ data: { ...chunk([]).data, usage: u } });
  frames.push({ data: '[DONE]' });
  return { status: 200, sse: frames };
}

// ---------------------------------------------------------------- legacy completions

export function completions(body) {
  const prompts = Array.isArray(body.prompt) && body.prompt.every((p) => typeof p === 'string')
    ? body.prompt
    : [typeof body.prompt === 'string' ? body.prompt : JSON.stringify(body.prompt ?? '')];
  const n = Math.min(int(body.n, 1), 8);
  const hash = requestHash(body);
  const texts = [];
  prompts.forEach((p, pi) => {
    for (let i = 0; i < n; i++) texts.push({ index: pi * n + i, text: echoText(p, hash, i > 0 ? ` #${i}` : '') });
  });
  const head = { id: volatileId('cmpl-'), object: 'text_completion', created: nowSeconds(), model: body.model };
  const promptTokens = countTokens(prompts.join(' '));
  const completionTokens = texts.reduce((s, t) => s + countTokens(t.text), 0);
  const u = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  if (!body.stream) {
    return {
      status: 200,
      json: {
        ...head,
        system_fingerprint: 'fp_fake0001',
        choices: texts.map((t) => ({ text: t.text, index: t.index, logprobs: null, finish_reason: 'stop' })),
        usage: u,
      },
    };
  }
  const frames = [];
  const chunk = (index, text, finish) => ({
    data: { ...head, choices: [{ text, index, logprobs: null, finish_reason: finish }], system_fingerprint: 'fp_fake0001' },
  });
  for (const t of texts) for (const p of pieces(t.text)) frames.push(chunk(t.index, p, null));
  for (const t of texts) frames.push(chunk(t.index, '', 'stop'));
  if (body.stream_options?.include_usage === true) {
    frames.push({ data: { ...head, choices: [], usage: u, system_fingerprint: 'fp_fake0001' } });
  }
  frames.push({ data: '[DONE]' });
  return { status: 200, sse: frames };
}

// ---------------------------------------------------------------- embeddings

// Unit vector of `dims` float32 values, a pure function of (model, text).
export function embeddingVector(model, text, dims) {
  const raw = [];
  for (let block = 0; raw.length < dims; block++) {
    const h = createHash('sha256').update(`${model}\0${text}\0${block}`).digest();
    for (let i = 0; i + 4 <= h.length && raw.length < dims; i += 4) raw.push(h.readUInt32LE(i) / 0xffffffff * 2 - 1);
  }
  const norm = Math.sqrt(raw.reduce((s, x) => s + x * x, 0)) || 1;
  return Float32Array.from(raw.map((x) => x / norm));
}

export function embeddings(body) {
  let inputs = body.input;
  if (typeof inputs === 'string') inputs = [inputs];
  else if (Array.isArray(inputs) && inputs.length > 0 && inputs.every((x) => typeof x === 'number')) inputs = [inputs];
  if (!Array.isArray(inputs) || inputs.length === 0) {
    return openaiError(400, "'input' must be a non-empty string or array", 'invalid_request_error', null, 'input');
  }
  const dims = Math.min(int(body.dimensions, 8), 4096);
  const base64 = body.encoding_format === 'base64';
  const data = inputs.map((inp, index) => {
    const text = typeof inp === 'string' ? inp : JSON.stringify(inp);
    const vec = embeddingVector(body.model, text, dims);
    const embedding = base64 ? Buffer.from(vec.buffer, vec.byteOffset, vec.byteLength).toString('base64') : Array.from(vec);
    return { object: 'embedding', index, embedding };
  });
  const tokens = countTokens(inputs.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' '));
  return { status: 200, json: { object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } } };
}

// ---------------------------------------------------------------- responses

function responsesInputText(body) {
  if (typeof body.input === 'string') return body.input;
  return lastUserText(body.input);
}

export function responses(body) {
  const text = responsesInputText(body);
  const hash = requestHash(body);
  const tools = Array.isArray(body.tools) ? body.tools.filter((t) => t?.type === 'function') : [];
  const toolName = wantsWeatherTool(tools, text, body.input) ? tools[0].name : null;
  const item = toolName
    ? {
        id: volatileId('fc_'),
        type: 'function_call',
        status: 'completed',
        arguments: JSON.stringify(weatherArguments(text)),
        call_id: volatileId('call_'),
        name: toolName,
      }
    : {
        id: volatileId('msg_'),
        type: 'message',
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: echoText(text, hash), annotations: [], logprobs: [] }],
      };
  const inputTokens = countTokens(JSON.stringify(body.input ?? ''));
  const outputTokens = countTokens(toolName ? item.arguments : item.content[0].text);
  const full = {
    id: volatileId('resp_'),
    object: 'response',
    created_at: nowSeconds(),
    status: 'completed',
    background: false,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: body.model,
    output: [item],
    parallel_tool_calls: true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: true,
    temperature: body.temperature ?? 1,
    text: { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
    truncation: 'disabled',
    usage: {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + outputTokens,
    },
    user: null,
    metadata: body.metadata ?? {},
  };
  if (!body.stream) return { status: 200, json: full };

  let seq = 0;
  const frames = [];
  const ev = (type, fields) => frames.push({ event: type, data: { type, sequence_number: seq++, ...fields } });
  const pending = { ...full, status: 'in_progress', output: [], usage: null };
  ev('response.created', { response: pending });
  ev('response.in_progress', { response: pending });
  if (toolName) {
    ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } });
    for (const part of splitInto(item.arguments, 3)) {
      ev('response.function_call_arguments.delta', { item_id: item.id, output_index: 0, delta: part });
    }
    ev('response.function_call_arguments.done', { item_id: item.id, output_index: 0, arguments: item.arguments });
  } else {
    const part = item.content[0];
    const ids = { item_id: item.id, output_index: 0, content_index: 0 };
    ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
    ev('response.content_part.added', { ...ids, part: { ...part, text: '' } });
    for (const p of pieces(part.text)) ev('response.output_text.delta', { ...ids, delta: p, logprobs: [] });
    ev('response.output_text.done', { ...ids, text: part.text, logprobs: [] });
    ev('response.content_part.done', { ...ids, part });
  }
  ev('response.output_item.done', { output_index: 0, item });
  ev('response.completed', { response: full });
  return { status: 200, sse: frames };
}

// ---------------------------------------------------------------- models

export const MODELS = ['fake-model', 'fake-gated', 'fake-error-500', 'fake-429', 'fake-truncate', 'fake-slow-stream'];

export function listModels() {
  return {
    status: 200,
    json: { object: 'list', data: MODELS.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'deja-fake' })) },
  };
}
