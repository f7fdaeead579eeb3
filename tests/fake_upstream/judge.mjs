// The fake upstream as the LLM judge of `deja replay --compare judge` (src/server/replay_judge.h):
// a chat request whose system message carries the rubric marker gets a JSON verdict, wrapped in
// chatter and a code fence as real models often do. Deterministic rule: the answers are equivalent
// when they agree after dropping the fake's " [hash]" tag, case, punctuation and extra whitespace.
import { contentText } from './util.mjs';

export const JUDGE_MARKER = '[deja-replay-judge v1]';

export function isJudgeRequest(messages) {
  return Array.isArray(messages) && messages.some((m) => m?.role === 'system' && contentText(m.content).includes(JUDGE_MARKER));
}

const section = (text, tag) => {
  const m = new RegExp(`<${tag}>\\n([\\s\\S]*?)\\n</${tag}>`).exec(text);
  return m ? m[1] : null;
};

const essence = (text) =>
  text.replace(/\s*\[[0-9a-f]{8}\]/g, '').toLowerCase().replace(/[^\p{L}\p{N}\s]/gu, '').replace(/\s+/g, ' ').trim();

export function judgeAnswer(messages) {
  const user = contentText(messages.filter((m) => m?.role === 'user').at(-1)?.content);
  const reference = section(user, 'reference_answer');
  const fresh = section(user, 'new_answer');
  if (reference === null || fresh === null) return 'I cannot find both answers in your message.';
  const equivalent = essence(reference) === essence(fresh);
  const reason = equivalent ? 'same content up to wording and punctuation' : `the new answer says "${essence(fresh)}"`;
  return `Here is my verdict:\n\`\`\`json\n${JSON.stringify({ equivalent, reason })}\n\`\`\``;
}
