// The scoring rule's pieces (src/judge.js), without a chain or a model.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { blake2AsHex } from '@polkadot/util-crypto';

import { contentFits, DEFAULT_PROMPT, failedCheck, judgeNumber, judgePrompt, scoreOf } from '../src/judge.js';

const RECEIPT = `0x${'ab'.repeat(32)}`;
const hashOf = (text) => blake2AsHex(new TextEncoder().encode(text), 256);

function served(content = 4, kind = 'rating') {
  const payload = JSON.stringify({ receipt: RECEIPT, kind, content });
  return {
    found: { payload, kind, answer: { receipt: RECEIPT, model: 3, prompt: 'What is 2+2?', output: '4' } },
    onChain: { model: 3, outputHash: RECEIPT, kind: 'Rating', payloadHash: hashOf(payload) },
  };
}

describe('the scoring rule', () => {
  it('passes feedback whose content the gateway holds under the chain\'s hashes', () => {
    const { found, onChain } = served();
    assert.equal(failedCheck(onChain, found), null);
  });

  it('fails feedback without content, with other content, or about another answer or model', () => {
    const { found, onChain } = served();
    assert.match(failedCheck(onChain, null), /no content/);
    assert.match(failedCheck({ ...onChain, payloadHash: hashOf('other') }, found), /does not hash/);
    assert.match(failedCheck({ ...onChain, outputHash: `0x${'cd'.repeat(32)}` }, found), /another answer/);
    assert.match(failedCheck({ ...onChain, model: 4 }, found), /another model/);
    assert.match(failedCheck({ ...onChain, kind: 'Label' }, found), /the chain says Label/);
    const bad = served(9);
    assert.match(failedCheck(bad.onChain, bad.found), /does not suit a rating/);
    const elsewhere = { ...found, answer: { ...found.answer, receipt: `0x${'cd'.repeat(32)}` } };
    assert.match(failedCheck(onChain, elsewhere), /not the one the chain names/);
  });

  it('checks content by kind as the gateway does', () => {
    assert.ok(contentFits('rating', 5) && contentFits('rating', { score: 1, comment: 'x' }));
    assert.ok(!contentFits('rating', 0) && !contentFits('rating', '5'));
    assert.ok(contentFits('preference', 'a') && !contentFits('preference', 'c'));
    assert.ok(contentFits('label', 'toxic') && contentFits('bug_report', { text: 'wrong' }));
    assert.ok(!contentFits('moderation', '   ') && !contentFits('label', 3));
  });

  it('asks the judge about the prompt, the answer and the feedback', () => {
    const { found } = served({ score: 2, comment: 'too short' });
    const prompt = judgePrompt(DEFAULT_PROMPT, found);
    assert.match(prompt, /What is 2\+2\?/);
    assert.match(prompt, /answered:\n4/);
    assert.match(prompt, /\(rating\):\n\{"score":2,"comment":"too short"\}/);
  });

  it('reads the judge\'s number and maps it above the floor', () => {
    assert.equal(judgeNumber('8'), 8);
    assert.equal(judgeNumber('Score: 7/10'), 7);
    assert.equal(judgeNumber('I would say 42, no, 3'), 3);
    assert.equal(judgeNumber('no idea'), 5);
    assert.equal(scoreOf(0), 50);
    assert.equal(scoreOf(10), 100);
    assert.equal(scoreOf(7, 40), 82);
    assert.equal(scoreOf(12, 120), 100);
  });
});
