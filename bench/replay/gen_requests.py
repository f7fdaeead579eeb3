#!/usr/bin/env python3
"""Writes N realistic, distinct LLM API requests as JSON Lines, for bench/replay/run.sh.

    python3 gen_requests.py --n 2000 --seed 1 --out requests.jsonl [--no-stream]

Each line: {"path": "/v1/chat/completions" | "/v1/messages", "headers": {...}, "body": {...}}.
Standard library only; the same seed gives the same file.

The mix (fractions of N): 55 % OpenAI chat completions, 15 % of them streamed; 20 % OpenAI chat
streamed (with stream_options.include_usage half the time); 25 % Anthropic messages, a third streamed.
Prompts are 50-500 words in all (log-uniform, so short prompts are as common as in real suites),
a third of them conversations (system + earlier turns + the last user turn), the rest one user turn
with an optional system prompt. The fake upstream (tests/fake_upstream) echoes the last user turn,
so a streamed answer has one event per word of it: long prompts give long streams, as they would.
--no-stream: the same mix with no request streamed (for the start-up benchmark's second cassette).
"""

import argparse
import json
import math
import random

WORDS = """the of and to in is that for it as was with be by on not he this are or his from at which
but have an they you were her she there been one all we their has would when if so no will more
can out up about into than them some could time these two may then do first any like my now over
such our man me even most made after also did many before must through back years where much your
way well down should because each just those people how too little state good very make world
still own see men work long get here between both life being under never day same another know
while last might us great old year off come since against go came right used take three states
himself few house use during without again place american around however home small found thought
went say part once general high upon school every does got united left number course war until
always away something fact though water less public put think almost hand enough far took head
yet government system better set told nothing night end why called didn't eyes find going look
asked later knew point next program city business give group toward young days let room president
side social given present several order national possible rather second per face among form
important often things looking early white case john become large big need four within felt along
children saw best church ever least power development light thing seemed family interest want
members mind country area others done turned although open god service certain kind problem began
different door thus help sense means whole matter perhaps itself york times law human line above
name example action company hands local show whether five history gave today either act feet
across taken past quite anything seen having death experience body word half really week field
money words already information tell together college shall sometimes table cache latency request
response server client token model stream replay cassette record test suite function python
database query index vector memory thread lock queue buffer socket header payload schema json
parse render compile deploy config secret budget invoice customer order refund shipment weather
forecast summary translate explain outline draft review bug fix patch release version""".split()

TASKS = [
    "Summarize the following text in three bullet points:",
    "Translate the following paragraph into French:",
    "Explain what this passage means to a new engineer:",
    "Write a short reply to this customer message:",
    "List the main risks described in these notes:",
    "Rewrite this text in plain language:",
    "Extract every date and amount mentioned here:",
    "Write a Python function that does what this description says:",
    "Classify the sentiment of this review as positive, negative or neutral:",
    "Answer the question at the end using only the text:",
]
SYSTEMS = [
    "You are a helpful assistant.",
    "You are a concise technical writer. Answer in at most five sentences.",
    "You are a support agent for an online shop. Be polite and precise.",
    "You are a senior software engineer reviewing code.",
]
OPENAI_MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"]
ANTHROPIC_MODELS = ["claude-3-5-haiku-latest", "claude-sonnet-4-20250514"]


def words(rng, n):
    out = []
    while len(out) < n:
        sentence = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
        sentence[0] = sentence[0].capitalize()
        out.extend(sentence)
        out[-1] += rng.choice([".", ".", ".", "?", "!"])
    return " ".join(out[:n])


def conversation(rng, total_words):
    """(system or None, [messages]) with about total_words words in all."""
    system = rng.choice(SYSTEMS) if rng.random() < 0.6 else None
    budget = total_words - (len(system.split()) if system else 0)
    messages = []
    if rng.random() < 1 / 3 and budget > 80:
        turns = rng.randint(1, 3)  # earlier user/assistant pairs
        earlier = int(budget * rng.uniform(0.4, 0.7))
        per = max(10, earlier // (2 * turns))
        for _ in range(turns):
            messages.append({"role": "user", "content": words(rng, per)})
            messages.append({"role": "assistant", "content": words(rng, per)})
        budget -= per * 2 * turns
    task = rng.choice(TASKS)
    last = f"{task}\n\n{words(rng, max(10, budget - len(task.split())))}"
    messages.append({"role": "user", "content": last})
    return system, messages


def openai_request(rng, stream):
    system, messages = conversation(rng, prompt_words(rng))
    if system:
        messages.insert(0, {"role": "system", "content": system})
    body = {"model": rng.choice(OPENAI_MODELS), "messages": messages}
    if rng.random() < 0.7:
        body["temperature"] = rng.choice([0, 0, 0.2, 0.7])
    if rng.random() < 0.4:
        body["max_tokens"] = rng.choice([256, 512, 1024])
    if stream:
        body["stream"] = True
        if rng.random() < 0.5:
            body["stream_options"] = {"include_usage": True}
    headers = {"content-type": "application/json", "authorization": "Bearer sk-deja-bench"}
    return {"path": "/v1/chat/completions", "headers": headers, "body": body}


def anthropic_request(rng, stream):
    system, messages = conversation(rng, prompt_words(rng))
    body = {"model": rng.choice(ANTHROPIC_MODELS), "max_tokens": rng.choice([512, 1024, 4096]),
            "messages": messages}
    if system:
        body["system"] = system
    if rng.random() < 0.5:
        body["temperature"] = rng.choice([0, 0.5, 1])
    if stream:
        body["stream"] = True
    headers = {"content-type": "application/json", "x-api-key": "sk-ant-deja-bench",
               "anthropic-version": "2023-06-01"}
    return {"path": "/v1/messages", "headers": headers, "body": body}


def prompt_words(rng):
    return int(math.exp(rng.uniform(math.log(50), math.log(500))))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--no-stream", action="store_true", help="no request asks for a stream")
    a = p.parse_args()
    rng = random.Random(a.seed)
    seen = set()
    with open(a.out, "w", encoding="utf-8") as out:
        while len(seen) < a.n:
            u = rng.random()
            if u < 0.55:
                req = openai_request(rng, stream=rng.random() < 0.15 and not a.no_stream)
            elif u < 0.75:
                req = openai_request(rng, stream=not a.no_stream)
            else:
                req = anthropic_request(rng, stream=rng.random() < 1 / 3 and not a.no_stream)
            line = json.dumps(req, separators=(",", ":"), ensure_ascii=False)
            if line in seen:  # practically never; keys must be distinct
                continue
            seen.add(line)
            out.write(line + "\n")


if __name__ == "__main__":
    main()
