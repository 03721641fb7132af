//! What the traffic generator starts: the mix of workflow kinds and a believable input for each.
//!
//! Everything here is pure: a [`Mix`] draws from the injected random source and reads the
//! [`Market`] (who is live, which calls were charged, what each seller earned), and returns a
//! [`Planned`] start — the workflow, its input, and what to do if it stops at a human task. The
//! driver in [`super`] starts it and carries the plan out, so a fixed seed gives the same sequence of
//! kinds, inputs and decisions.
//!
//! The inputs follow the workflows' input schemas and the simulated services' rules: a document or
//! tax id starting with `FAIL` fails verification, a credit score below 600 is denied, a caller number
//! ending in `0000` is blocked, a signer containing `decline` refuses to sign, a dispute above 50.00
//! goes to manual review, a payout above the seller's balance fails.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// The verticals buyers bid on; the seeded buyers cover every one of them.
pub const VERTICALS: &[&str] = &["insurance", "legal", "home-services", "solar", "debt-relief"];
/// A vertical no buyer bids on: its calls end unrouted (`no_buyer`).
pub const UNSERVED_VERTICAL: &str = "pet-insurance";
/// The regions calls come from.
pub const REGIONS: &[&str] = &["US-CA", "US-TX", "US-NY", "US-FL", "US-IL"];

/// The seeded buyers' names; ids are derived from them so seeding again on the same database starts
/// nothing new (the starts carry idempotency keys).
const BUYER_NAMES: &[&str] = &[
    "Acme Leads",
    "Bluebird Media",
    "Cobalt Insure",
    "Delta Legal Group",
    "Evergreen Solar",
    "Fairway Debt",
    "Granite Home",
];
const SELLER_NAMES: &[&str] = &[
    "Dial Direct",
    "Northstar Calls",
    "Pinecone Publishing",
    "Riverbend Media",
    "Summit Performance",
    "Tidewater Leads",
];

/// The workflow kinds the generator starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Call,
    BuyerOnboarding,
    SellerOnboarding,
    Dispute,
    Payout,
    Quality,
}

impl Kind {
    /// The workflow type it starts.
    pub fn workflow(self) -> &'static str {
        match self {
            Kind::Call => "call-lifecycle",
            Kind::BuyerOnboarding => "buyer-onboarding",
            Kind::SellerOnboarding => "seller-onboarding",
            Kind::Dispute => "dispute-resolution",
            Kind::Payout => "payout-processing",
            Kind::Quality => "quality-monitoring",
        }
    }
}

/// Shares of the mix, in percent: mostly calls, as in a real marketplace.
const WEIGHTS: &[(Kind, u32)] = &[
    (Kind::Call, 70),
    (Kind::BuyerOnboarding, 5),
    (Kind::SellerOnboarding, 5),
    (Kind::Dispute, 7),
    (Kind::Payout, 7),
    (Kind::Quality, 6),
];

/// What to do when a started instance waits on a human task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Review {
    /// Decide it (the decision's name, e.g. `approve`), as a reviewer would.
    Decide(&'static str),
    /// Leave it for people to work in the console.
    Leave,
}

/// One start the generator will make.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub kind: Kind,
    pub input: Value,
    /// A start key for starts that must not repeat (the seed); `None` for ordinary traffic.
    pub idempotency_key: Option<String>,
    /// What to do at a human task; `None` for starts that never wait on one.
    pub review: Option<Review>,
}

/// A charged call: what a dispute can be about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargedCall {
    pub call_id: String,
    pub buyer_id: String,
    pub seller_id: String,
    pub charge_minor: i64,
}

/// What the generator knows about the marketplace it drives, updated as instances finish.
#[derive(Clone, Debug, Default)]
pub struct Market {
    /// Sellers that went live (and were not suspended since).
    pub sellers: Vec<String>,
    /// The latest charged calls (bounded).
    pub calls: Vec<ChargedCall>,
    /// Minor units each seller earned from charged calls, less what payouts already asked for.
    pub earnings: BTreeMap<String, i64>,
}

/// How many charged calls the market remembers for disputes.
const REMEMBERED_CALLS: usize = 200;

impl Market {
    /// Records a charged call (the seller's share is the charge less the platform fee).
    pub fn charged(&mut self, call: ChargedCall, fee_minor: i64) {
        *self.earnings.entry(call.seller_id.clone()).or_default() += call.charge_minor - fee_minor;
        if self.calls.len() >= REMEMBERED_CALLS {
            self.calls.remove(0);
        }
        self.calls.push(call);
    }

    /// Records a seller that went live.
    pub fn live(&mut self, seller_id: &str) {
        if !self.sellers.iter().any(|s| s == seller_id) {
            self.sellers.push(seller_id.to_string());
        }
    }
}

/// Draws the starts, one after the other, from a seeded random source.
pub struct Mix {
    rng: fastrand::Rng,
    /// Distinguishes this run's ids from earlier runs' on the same database.
    tag: String,
    next: u64,
    /// Human tasks still to leave for people (a few at most; the generator decides the rest).
    leave_budget: usize,
}

impl Mix {
    pub fn new(seed: u64, tag: &str, leave_for_people: usize) -> Self {
        Self { rng: fastrand::Rng::with_seed(seed), tag: tag.to_string(), next: 0, leave_budget: leave_for_people }
    }

    /// The random source, for the driver's other draws (faults), so one seed fixes everything.
    pub fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}-{}", self.tag, self.next)
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.rng.u32(0..100) < percent
    }

    /// An index below `len` (0 when empty). Always one draw, whatever the market holds, so the
    /// sequence of draws — and of kinds — does not depend on how fast earlier instances finished.
    fn index(&mut self, len: usize) -> usize {
        let draw = self.rng.usize(..);
        if len == 0 {
            0
        } else {
            draw % len
        }
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.rng.usize(0..items.len())]
    }

    /// Leave this human task for people while the budget lasts; otherwise decide `decision`.
    fn review(&mut self, decision: &'static str) -> Review {
        if self.leave_budget > 0 {
            self.leave_budget -= 1;
            Review::Leave
        } else {
            Review::Decide(decision)
        }
    }

    fn phone(&mut self) -> String {
        // Never ending in 0000 (the block list) unless asked for.
        format!("+1{}555{:04}", self.rng.u32(200..=989), self.rng.u32(1..=9999))
    }

    /// The seed: `buyers` buyers covering every vertical (the first round in every region) and
    /// `sellers` sellers, all meant to succeed; the sellers' compliance reviews are approved.
    pub fn seed(&mut self, buyers: usize, sellers: usize) -> Vec<Planned> {
        let mut plans = Vec::new();
        for index in 0..buyers {
            let name = BUYER_NAMES[index % BUYER_NAMES.len()];
            let round = index / BUYER_NAMES.len();
            let buyer_id = format!("buyer-{}{}", slug(name), suffix(round));
            let vertical = VERTICALS[index % VERTICALS.len()];
            let region = if index < VERTICALS.len() { "*" } else { self.pick(REGIONS) };
            let mut input = self.buyer_input(&buyer_id, name, vertical);
            input["region"] = json!(region);
            input["credit_score"] = json!(self.rng.i64(680..=820));
            plans.push(Planned {
                kind: Kind::BuyerOnboarding,
                idempotency_key: Some(format!("demo-seed:{buyer_id}")),
                input,
                review: Some(Review::Decide("approve")),
            });
        }
        for index in 0..sellers {
            let name = SELLER_NAMES[index % SELLER_NAMES.len()];
            let seller_id = format!("seller-{}{}", slug(name), suffix(index / SELLER_NAMES.len()));
            plans.push(Planned {
                kind: Kind::SellerOnboarding,
                idempotency_key: Some(format!("demo-seed:{seller_id}")),
                input: self.seller_input(&seller_id, name),
                review: Some(Review::Decide("approve")),
            });
        }
        plans
    }

    /// The next start of ordinary traffic.
    pub fn next(&mut self, market: &mut Market) -> Planned {
        let total: u32 = WEIGHTS.iter().map(|(_, weight)| weight).sum();
        let mut roll = self.rng.u32(0..total);
        let mut kind = Kind::Call;
        for (candidate, weight) in WEIGHTS {
            if roll < *weight {
                kind = *candidate;
                break;
            }
            roll -= weight;
        }
        // Kinds that need a live seller become calls until one exists (the call then fails unrouted
        // or is charged to a seller id nobody onboarded — still believable traffic).
        if market.sellers.is_empty() && matches!(kind, Kind::Payout | Kind::Quality) {
            kind = Kind::Call;
        }
        let (input, review) = match kind {
            Kind::Call => (self.call(market), None),
            Kind::BuyerOnboarding => self.new_buyer(),
            Kind::SellerOnboarding => self.new_seller(),
            Kind::Dispute => self.dispute(market),
            Kind::Payout => (self.payout(market), None),
            Kind::Quality => self.quality(market),
        };
        Planned { kind, input, idempotency_key: None, review }
    }

    fn call(&mut self, market: &Market) -> Value {
        let call_id = self.id("call");
        let index = self.index(market.sellers.len());
        let seller_id = market.sellers.get(index).cloned().unwrap_or_else(|| "seller-unknown".to_string());
        let vertical = if self.chance(4) { UNSERVED_VERTICAL } else { self.pick(VERTICALS) };
        let caller_number = if self.chance(2) { format!("+1{}5550000", self.rng.u32(200..=989)) } else { self.phone() };
        let region = self.pick(REGIONS);
        json!({
            "call_id": call_id, "seller_id": seller_id, "caller_number": caller_number,
            "vertical": vertical, "region": region,
            "duration_s": self.rng.i64(15..=900), "silence_s": self.rng.i64(0..=4),
        })
    }

    fn buyer_input(&mut self, buyer_id: &str, name: &str, vertical: &str) -> Value {
        json!({
            "buyer_id": buyer_id, "name": name, "email": format!("ops@{}.test", slug(name)),
            "document_id": format!("DOC-{}", self.rng.u32(10_000..=99_999)),
            "credit_score": self.rng.i64(620..=820),
            "campaign_id": format!("{buyer_id}-{vertical}"), "campaign_name": format!("{name} {vertical}"),
            "daily_budget_minor": self.rng.i64(20..=200) * 1_000, "vertical": vertical,
            "bid_minor": self.rng.i64(60..=250),
        })
    }

    fn new_buyer(&mut self) -> (Value, Option<Review>) {
        let buyer_id = self.id("buyer");
        let name = self.pick(BUYER_NAMES);
        let vertical = self.pick(VERTICALS);
        let mut input = self.buyer_input(&buyer_id, name, vertical);
        input["region"] = json!(self.pick(REGIONS));
        match self.rng.u32(0..100) {
            0..=7 => input["document_id"] = json!(format!("FAIL-{}", self.rng.u32(1000..=9999))),
            8..=15 => input["credit_score"] = json!(self.rng.i64(420..=590)),
            16..=19 => input["email"] = json!("ops-at-nowhere"),
            _ => {}
        }
        (input, None)
    }

    fn seller_input(&mut self, seller_id: &str, name: &str) -> Value {
        let slug = slug(name);
        json!({
            "seller_id": seller_id, "business_name": format!("{name} LLC"), "email": format!("hello@{slug}.test"),
            "tax_id": format!("{:02}-{:07}", self.rng.u32(10..=99), self.rng.u32(0..=9_999_999)),
            "routing_number": "021000021", "account_number": format!("{:012}", self.rng.u64(1..=999_999_999_999)),
            "tcpa_consent": true, "license_number": format!("LIC-{}", self.rng.u32(100..=999)),
            "revenue_share_bp": self.rng.i64(70..=85) * 100, "signer": format!("{name} Owner"),
            "endpoint": format!("https://{slug}.test/calls"), "test_number": self.phone(),
        })
    }

    fn new_seller(&mut self) -> (Value, Option<Review>) {
        let seller_id = self.id("seller");
        let name = self.pick(SELLER_NAMES);
        let mut input = self.seller_input(&seller_id, name);
        match self.rng.u32(0..100) {
            0..=7 => input["tax_id"] = json!(format!("FAIL-{}", self.rng.u32(10..=99))),
            8..=14 => input["tcpa_consent"] = json!(false),
            15..=19 => input["signer"] = json!("Pat Moreno (will decline)"),
            20..=24 => {
                input.as_object_mut().map(|fields| fields.remove("license_number"));
            }
            _ => {}
        }
        let decision = if self.chance(85) { "approve" } else { "reject" };
        (input, Some(self.review(decision)))
    }

    fn dispute(&mut self, market: &Market) -> (Value, Option<Review>) {
        let dispute_id = self.id("dispute");
        let index = self.index(market.calls.len());
        let call = if market.calls.is_empty() {
            ChargedCall {
                call_id: format!("{dispute_id}-call"),
                buyer_id: "buyer-acme-leads".into(),
                seller_id: market.sellers.first().cloned().unwrap_or_else(|| "seller-dial-direct".into()),
                charge_minor: 500,
            }
        } else {
            market.calls[index].clone()
        };
        let mut input = json!({
            "dispute_id": dispute_id, "call_id": call.call_id, "buyer_id": call.buyer_id,
            "seller_id": call.seller_id, "reason": self.pick(DISPUTE_REASONS),
        });
        let roll = self.rng.u32(0..100);
        let review = if roll < 45 {
            // Simple with evidence: approved at once, up to the charge.
            input["amount_minor"] = json!(self.rng.i64(1..=call.charge_minor.clamp(1, 5_000)));
            input["evidence"] = json!(format!("rec-{}", self.rng.u32(100_000..=999_999)));
            None
        } else if roll < 70 {
            // No evidence: denied at once.
            input["amount_minor"] = json!(self.rng.i64(1..=call.charge_minor.max(1)));
            None
        } else {
            // Complex: a high-value claim for a person to review.
            input["amount_minor"] = json!(self.rng.i64(5_001..=25_000));
            input["evidence"] = json!(format!("rec-{}", self.rng.u32(100_000..=999_999)));
            let decision = if self.chance(50) { "approve" } else { "deny" };
            Some(self.review(decision))
        };
        (input, review)
    }

    fn payout(&mut self, market: &mut Market) -> Value {
        let payout_id = self.id("payout");
        let index = self.index(market.sellers.len());
        let seller_id = market.sellers[index].clone();
        let earned = market.earnings.get(&seller_id).copied().unwrap_or_default();
        let within = self.chance(75);
        let amount = if earned >= 200 && within {
            let amount = 100 + self.rng.i64(0..=earned / 2 - 100);
            *market.earnings.entry(seller_id.clone()).or_default() -= amount;
            amount
        } else {
            // More than the seller has: fails cleanly with insufficient_balance.
            earned.max(0) + self.rng.i64(1_000..=50_000)
        };
        json!({"payout_id": payout_id, "seller_id": seller_id, "amount_minor": amount})
    }

    fn quality(&mut self, market: &mut Market) -> (Value, Option<Review>) {
        let index = self.index(market.sellers.len());
        let seller_id = market.sellers[index].clone();
        let calls = self.rng.i64(100..=400);
        let mut silence = self.rng.i64(0..=5);
        let mut conversions = calls * self.rng.i64(12..=35) / 100;
        let mut complaints = calls * self.rng.i64(0..=1) / 100;
        let breach = calls * self.rng.i64(3..=10) / 100;
        let mut review = None;
        match self.rng.u32(0..100) {
            0..=19 => silence = self.rng.i64(6..=30),
            20..=31 => {
                conversions = calls * self.rng.i64(1..=9) / 100;
                let decision = if self.chance(80) { "acknowledge" } else { "suspend" };
                review = Some(self.review(decision));
            }
            // Suspensions stop a seller's traffic; keep at least two sellers live.
            32..=37 if market.sellers.len() > 2 => {
                complaints = breach;
                market.sellers.retain(|s| *s != seller_id);
            }
            _ => {}
        }
        if review == Some(Review::Decide("suspend")) {
            if market.sellers.len() > 2 {
                market.sellers.retain(|s| *s != seller_id);
            } else {
                review = Some(Review::Decide("acknowledge"));
            }
        }
        let input = json!({
            "seller_id": seller_id, "silence_s": silence, "calls": calls,
            "conversions": conversions, "complaints": complaints,
        });
        (input, review)
    }
}

const DISPUTE_REASONS: &[&str] = &[
    "call dropped after a few seconds",
    "caller was not in the requested region",
    "duplicate call from the same number",
    "caller was not interested in the offer",
    "recording shows an automated caller",
];

fn slug(name: &str) -> String {
    name.to_ascii_lowercase().split_whitespace().collect::<Vec<_>>().join("-")
}

fn suffix(round: usize) -> String {
    if round == 0 {
        String::new()
    } else {
        format!("-{}", round + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_starts() {
        let draw = |seed| {
            let mut mix = Mix::new(seed, "t", 2);
            let mut market = Market { sellers: vec!["s-1".into(), "s-2".into(), "s-3".into()], ..Market::default() };
            let mut plans = mix.seed(3, 2);
            plans.extend((0..200).map(|_| mix.next(&mut market)));
            plans
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn calls_dominate_and_every_kind_appears() {
        let mut mix = Mix::new(1, "t", 0);
        let mut market = Market { sellers: (0..5).map(|i| format!("s-{i}")).collect(), ..Market::default() };
        let mut counts: BTreeMap<Kind, usize> = BTreeMap::new();
        for _ in 0..2_000 {
            *counts.entry(mix.next(&mut market).kind).or_default() += 1;
        }
        assert_eq!(counts.len(), 6, "{counts:?}");
        assert!(counts[&Kind::Call] > 1_200, "{counts:?}");
    }

    #[test]
    fn only_a_few_reviews_are_left_for_people() {
        let mut mix = Mix::new(3, "t", 2);
        let mut market = Market { sellers: (0..5).map(|i| format!("s-{i}")).collect(), ..Market::default() };
        let reviews: Vec<Review> = (0..2_000).filter_map(|_| mix.next(&mut market).review).collect();
        assert_eq!(reviews.iter().filter(|r| **r == Review::Leave).count(), 2, "the budget");
        assert!(reviews.len() > 50, "onboardings, complex disputes and reviews happen: {}", reviews.len());
        assert!(market.sellers.len() >= 2, "suspensions keep two sellers live");
    }
}
