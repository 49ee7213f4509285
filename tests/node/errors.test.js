// Errors as the official Node library types them: StripeInvalidRequestError with param and code,
// 404 resource_missing, StripeAuthenticationError; accounts are isolated.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Stripe, Server, newLocation, newReader, rejects } = require('./harness');

describe('errors (stripe-node against tillgate serve)', () => {
  const server = new Server();
  let stripe;

  before(async () => {
    await server.start();
    stripe = server.stripe();
  });
  after(() => server.stop());

  it('a missing parameter is a StripeInvalidRequestError naming it', async () => {
    const e = await rejects(() => stripe.paymentIntents.create({ currency: 'usd', payment_method_types: ['card_present'] }));
    assert.ok(e instanceof Stripe.errors.StripeInvalidRequestError, `got ${e.constructor.name}: ${e.message}`);
    assert.equal(e.type, 'StripeInvalidRequestError');
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, 'parameter_missing');
    assert.equal(e.param, 'amount');
    assert.match(e.requestId, /^req_/);
    assert.ok(e.message.length > 0);
  });

  it('an invalid value names its parameter', async () => {
    const e = await rejects(() =>
      stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method_types: ['card_present'], capture_method: 'sometimes' }),
    );
    assert.ok(e instanceof Stripe.errors.StripeInvalidRequestError, `got ${e.constructor.name}: ${e.message}`);
    assert.equal(e.statusCode, 400);
    assert.equal(e.param, 'capture_method');
  });

  it('capturing an unpaid PaymentIntent is refused with the state code (intent_invalid_state)', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 1000, currency: 'usd', payment_method_types: ['card_present'] });
    const e = await rejects(() => stripe.paymentIntents.capture(pi.id));
    assert.ok(e instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(e.statusCode, 400);
    // The code the reference (stripe-terminal-api.md) gives for an intent in the wrong state.
    assert.equal(e.code, 'intent_invalid_state');
    assert.match(e.message, /requires_payment_method/);
  });

  for (const [what, call] of [
    ['payment intent', (s) => s.paymentIntents.retrieve('pi_doesnotexist')],
    ['reader', (s) => s.terminal.readers.retrieve('tmr_doesnotexist')],
    ['location', (s) => s.terminal.locations.retrieve('tml_doesnotexist')],
    ['charge', (s) => s.charges.retrieve('ch_doesnotexist')],
    ['refund', (s) => s.refunds.retrieve('re_doesnotexist')],
  ]) {
    it(`an unknown ${what} is a 404 resource_missing`, async () => {
      const e = await rejects(() => call(stripe));
      assert.ok(e instanceof Stripe.errors.StripeInvalidRequestError, `got ${e.constructor.name}: ${e.message}`);
      assert.equal(e.statusCode, 404);
      assert.equal(e.code, 'resource_missing');
      assert.equal(e.param, 'id');
    });
  }

  it('a reader action on an unknown PaymentIntent names payment_intent', async () => {
    const reader = await newReader(stripe, await newLocation(stripe));
    const e = await rejects(() => stripe.terminal.readers.processPaymentIntent(reader.id, { payment_intent: 'pi_doesnotexist' }));
    assert.ok(e instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(e.code, 'resource_missing');
    assert.equal(e.param, 'payment_intent');
  });

  it('cancel_action with nothing in progress is refused with a state code', async () => {
    const reader = await newReader(stripe, await newLocation(stripe));
    const e = await rejects(() => stripe.terminal.readers.cancelAction(reader.id));
    assert.ok(e instanceof Stripe.errors.StripeInvalidRequestError, `got ${e.constructor.name}: ${e.message}`);
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, 'terminal_reader_no_action');
    assert.equal(e.raw.message, 'The reader has no action in progress to cancel.');
  });

  it('a wrong key is a StripeAuthenticationError (401)', async () => {
    const bad = server.stripe('sk_test_not_a_real_key');
    const e = await rejects(() => bad.paymentIntents.list());
    assert.ok(e instanceof Stripe.errors.StripeAuthenticationError, `got ${e.constructor.name}: ${e.message}`);
    assert.equal(e.type, 'StripeAuthenticationError');
    assert.equal(e.statusCode, 401);
  });

  it('a key made with `tillgate keys create` works and sees only its own account', async () => {
    const mine = await stripe.paymentIntents.create({ amount: 700, currency: 'usd', payment_method_types: ['card_present'] });
    const other = server.stripe(server.createKey('acct_node_b'));
    const listed = await other.paymentIntents.list({ limit: 100 });
    assert.equal(listed.object, 'list');
    assert.ok(!listed.data.some((p) => p.id === mine.id), 'another account sees this account\'s PaymentIntent');
    const e = await rejects(() => other.paymentIntents.retrieve(mine.id));
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, 'resource_missing');
  });
});
