//! The static data the generator draws from: card programs, currencies and merchants.
//!
//! Weights are relative within their table. Merchant MCCs are the merchants' real ones, except where
//! `examples/transactions.csv` already pairs a merchant with an MCC: there the example wins, so a
//! campaign written against the examples behaves the same on generated data.

/// A card program: its id (`card_type`) and its share of cards.
pub(super) struct Program {
    pub(super) id: &'static str,
    pub(super) weight: u32,
}

/// The four programs of `reference-config.json` (REWARDS.md §7).
pub(super) const PROGRAMS: &[Program] = &[
    Program {
        id: "scis_shopping",
        weight: 35,
    },
    Program {
        id: "scis_freedom",
        weight: 30,
    },
    Program {
        id: "scis_premiummiles",
        weight: 20,
    },
    Program {
        id: "scis_platinummiles",
        weight: 15,
    },
];

/// Programs the reference configuration does not know: their purchases dead-letter `unknown_program`.
pub(super) const UNKNOWN_PROGRAMS: &[&str] = &["scis_unknowncard", "scis_legacy", "scis_corporate"];

pub(super) struct Currency {
    pub(super) code: &'static str,
    /// Rows per 100,000.
    pub(super) weight: u32,
    /// Digits after the decimal point as written: 2, or 0 for currencies without minor units in use.
    pub(super) minor_digits: u8,
    /// Roughly how many units of this currency one SGD buys, in thousandths (740: 0.74);
    /// scales a merchant's typical amount.
    pub(super) per_sgd_milli: u64,
}

/// Currencies, the ones with a reference FX rate (or SGD) first: `FX_CURRENCIES` counts them.
/// THB, IDR and HKD have no rate in the reference configuration, so their purchases dead-letter
/// `no_fx_rate`.
pub(super) const CURRENCIES: &[Currency] = &[
    Currency {
        code: "SGD",
        weight: 85_000,
        minor_digits: 2,
        per_sgd_milli: 1_000,
    },
    Currency {
        code: "USD",
        weight: 5_000,
        minor_digits: 2,
        per_sgd_milli: 740,
    },
    Currency {
        code: "EUR",
        weight: 2_000,
        minor_digits: 2,
        per_sgd_milli: 680,
    },
    Currency {
        code: "GBP",
        weight: 1_500,
        minor_digits: 2,
        per_sgd_milli: 580,
    },
    Currency {
        code: "MYR",
        weight: 2_500,
        minor_digits: 2,
        per_sgd_milli: 3_400,
    },
    Currency {
        code: "JPY",
        weight: 2_000,
        minor_digits: 0,
        per_sgd_milli: 110_000,
    },
    Currency {
        code: "AUD",
        weight: 1_500,
        minor_digits: 2,
        per_sgd_milli: 1_140,
    },
    Currency {
        code: "THB",
        weight: 200,
        minor_digits: 2,
        per_sgd_milli: 27_000,
    },
    Currency {
        code: "IDR",
        weight: 150,
        minor_digits: 0,
        per_sgd_milli: 11_800_000,
    },
    Currency {
        code: "HKD",
        weight: 150,
        minor_digits: 2,
        per_sgd_milli: 5_800,
    },
];

/// How many of `CURRENCIES`, from the start, have an FX rate in the reference configuration.
pub(super) const FX_CURRENCIES: usize = 7;

/// Index of SGD in `CURRENCIES`.
pub(super) const SGD: u8 = 0;

pub(super) struct Merchant {
    /// The canonical name, as written unquoted (the writer quotes it where CSV needs it).
    pub(super) name: &'static str,
    pub(super) mcc: u16,
    /// The currency it bills in (a code in `CURRENCIES`).
    pub(super) currency: &'static str,
    /// Share among the merchants of its currency.
    pub(super) weight: u32,
    /// Median ticket in whole SGD; amounts are log-normal around it.
    pub(super) median_sgd: u64,
}

const fn m(
    name: &'static str,
    mcc: u16,
    currency: &'static str,
    weight: u32,
    median_sgd: u64,
) -> Merchant {
    Merchant {
        name,
        mcc,
        currency,
        weight,
        median_sgd,
    }
}

/// Amounts that sit exactly on a tier boundary of the reference programs, in SGD cents.
pub(super) const BOUNDARY_AMOUNTS: &[u64] = &[50_000, 50_001, 200_000, 200_001, 10_000, 9_999];

/// MCCs on an edge of a reference campaign or exclusion condition. Every one has a merchant below.
pub(super) const BOUNDARY_MCCS: &[u16] = &[
    5000, 5999, 5815, 5818, 3501, 3999, 7011, 6051, 9399, 6540, 7995,
];

#[rustfmt::skip]
pub(super) const MERCHANTS: &[Merchant] = &[
    // Groceries and convenience.
    m("NTUC FairPrice", 5411, "SGD", 120, 45),
    m("Cold Storage", 5411, "SGD", 40, 55),
    m("Sheng Siong", 5411, "SGD", 50, 40),
    m("Giant", 5411, "SGD", 30, 45),
    m("RedMart", 5411, "SGD", 20, 90),
    m("7-Eleven", 5499, "SGD", 50, 8),
    m("Cheers", 5499, "SGD", 15, 6),
    m("Don Don Donki", 5311, "SGD", 20, 30),
    // Online marketplaces.
    m("Shopee", 5399, "SGD", 80, 25),
    m("Lazada", 5399, "SGD", 60, 30),
    m("Amazon.sg", 5999, "SGD", 40, 45),
    m("Qoo10", 5399, "SGD", 10, 30),
    m("Zalora", 5691, "SGD", 15, 60),
    // Department stores, fashion, electronics, home.
    m("Takashimaya", 5311, "SGD", 15, 120),
    m("Tangs", 5311, "SGD", 10, 90),
    m("Uniqlo", 5651, "SGD", 30, 60),
    m("H&M", 5651, "SGD", 15, 50),
    m("Zara", 5651, "SGD", 15, 80),
    m("Charles & Keith", 5661, "SGD", 10, 70),
    m("Courts", 5732, "SGD", 15, 300),
    m("Challenger", 5732, "SGD", 10, 150),
    m("Best Denki", 5732, "SGD", 8, 250),
    m("Apple Store", 5732, "SGD", 10, 900),
    m("Harvey Norman", 5722, "SGD", 10, 400),
    m("IKEA", 5712, "SGD", 15, 150),
    m("Popular Bookstore", 5942, "SGD", 10, 25),
    m("Kinokuniya", 5942, "SGD", 8, 40),
    m("Toys\"R\"Us", 5945, "SGD", 5, 50),
    m("Decathlon", 5941, "SGD", 10, 60),
    m("Guardian", 5912, "SGD", 30, 20),
    m("Watsons", 5912, "SGD", 30, 20),
    m("Sephora", 5977, "SGD", 8, 80),
    // 5000 and 3999 bound the reference conditions but no well-known merchant uses them: these two
    // names are made up.
    m("Sim Lim Square Wholesale", 5000, "SGD", 2, 120),
    // Food and drink.
    m("GrabFood", 5812, "SGD", 80, 30),
    m("foodpanda", 5812, "SGD", 50, 28),
    m("Deliveroo", 5812, "SGD", 20, 35),
    m("Din Tai Fung", 5812, "SGD", 15, 60),
    m("Jumbo Seafood", 5812, "SGD", 5, 180),
    m("Paradise Dynasty", 5812, "SGD", 8, 70),
    m("Sushi Tei, VivoCity", 5812, "SGD", 6, 55),
    m("Starbucks", 5814, "SGD", 40, 8),
    m("Kopitiam", 5814, "SGD", 40, 6),
    m("McDonald's", 5814, "SGD", 40, 10),
    m("KFC", 5814, "SGD", 20, 11),
    m("Toast Box", 5814, "SGD", 20, 7),
    m("Ya Kun Kaya Toast", 5814, "SGD", 20, 6),
    m("Tiong Bahru Bakery", 5462, "SGD", 8, 15),
    m("Long Bar Raffles Hotel", 5813, "SGD", 4, 90),
    // Transport and fuel.
    m("Grab Transport", 4121, "SGD", 80, 18),
    m("Gojek", 4121, "SGD", 30, 16),
    m("ComfortDelGro Taxi", 4121, "SGD", 20, 20),
    m("SimplyGo", 4111, "SGD", 40, 4),
    m("EZ-Link top up", 6540, "SGD", 20, 30),
    m("Shell", 5542, "SGD", 20, 80),
    m("Esso", 5541, "SGD", 15, 80),
    m("Caltex", 5541, "SGD", 10, 75),
    m("SPC", 5541, "SGD", 8, 70),
    // Travel.
    m("Singapore Airlines", 3001, "SGD", 10, 900),
    m("Scoot", 4511, "SGD", 8, 250),
    m("Marriott", 7011, "SGD", 5, 350),
    m("Hilton", 3504, "SGD", 4, 350),
    m("Holiday Inn", 3501, "SGD", 3, 220),
    m("Shangri-La", 3545, "SGD", 3, 400),
    m("Mandarin Oriental", 3577, "SGD", 2, 500),
    m("Harbourfront Lodging", 3999, "SGD", 2, 200),
    m("Kaligo.com", 4722, "SGD", 4, 250),
    m("Agoda", 4722, "SGD", 8, 220),
    m("Klook", 4722, "SGD", 6, 60),
    // Entertainment and digital goods.
    m("Golden Village", 7832, "SGD", 15, 25),
    m("Shaw Theatres", 7832, "SGD", 8, 24),
    m("Netflix", 4899, "SGD", 20, 18),
    m("Spotify", 5815, "SGD", 20, 11),
    m("Steam", 5816, "SGD", 8, 25),
    m("Google Play", 5818, "SGD", 10, 8),
    m("Singapore Zoo", 7996, "SGD", 4, 45),
    m("Marina Bay Sands Casino", 7995, "SGD", 3, 200),
    m("Singapore Pools", 7995, "SGD", 4, 20),
    // Bills, government, health, insurance.
    m("AXS Payments", 9399, "SGD", 15, 120),
    m("IRAS", 9311, "SGD", 3, 800),
    m("Singtel", 4814, "SGD", 15, 60),
    m("StarHub", 4814, "SGD", 8, 50),
    m("SP Group", 4900, "SGD", 10, 110),
    m("Raffles Medical", 8011, "SGD", 5, 80),
    m("Great Eastern Life", 6300, "SGD", 4, 250),
    // Abroad, or online in a foreign currency.
    m("Amazon.com", 5999, "USD", 30, 45),
    m("Uber", 4121, "USD", 15, 25),
    m("Expedia", 4722, "USD", 8, 400),
    m("Macy's", 5311, "USD", 6, 90),
    m("Hilton New York", 3504, "USD", 4, 400),
    m("Steam", 5816, "USD", 10, 25),
    m("Airbnb", 7011, "USD", 8, 350),
    m("Zara Paris", 5651, "EUR", 10, 80),
    m("Galeries Lafayette", 5311, "EUR", 8, 150),
    m("SNCF", 4112, "EUR", 8, 60),
    m("Air France", 3007, "EUR", 4, 700),
    m("Sofitel Paris", 3641, "EUR", 4, 350),
    m("Booking.com", 4722, "EUR", 10, 300),
    m("Carrefour", 5411, "EUR", 8, 40),
    m("Harrods", 5311, "GBP", 6, 200),
    m("Marks & Spencer", 5311, "GBP", 8, 40),
    m("Tesco", 5411, "GBP", 8, 30),
    m("Transport for London", 4111, "GBP", 10, 6),
    m("British Airways", 3005, "GBP", 4, 700),
    m("Pret A Manger", 5814, "GBP", 8, 9),
    m("ASOS", 5691, "GBP", 10, 60),
    m("Genting Casino", 6051, "MYR", 5, 300),
    m("Resorts World Genting", 7011, "MYR", 6, 250),
    m("Petronas", 5541, "MYR", 15, 60),
    m("AEON Mall", 5311, "MYR", 10, 60),
    m("Malaysia Airlines", 3100, "MYR", 4, 400),
    m("Grab Malaysia", 4121, "MYR", 10, 12),
    m("Shopee Malaysia", 5399, "MYR", 8, 25),
    m("Hilton Tokyo", 3504, "JPY", 5, 350),
    m("Uniqlo Ginza", 5651, "JPY", 8, 60),
    m("Don Quijote", 5311, "JPY", 10, 80),
    m("JR East", 4112, "JPY", 10, 30),
    m("Lawson", 5499, "JPY", 10, 8),
    m("Ichiran Ramen", 5812, "JPY", 8, 15),
    m("Bic Camera", 5732, "JPY", 6, 200),
    m("Tokyo Disney Resort", 7996, "JPY", 4, 120),
    m("Qantas", 3012, "AUD", 4, 600),
    m("Woolworths", 5411, "AUD", 10, 50),
    m("Myer", 5311, "AUD", 6, 90),
    m("JB Hi-Fi", 5732, "AUD", 5, 200),
    m("Uber", 4121, "AUD", 8, 25),
    m("Taxi Co", 4121, "THB", 6, 10),
    m("King Power Duty Free", 5309, "THB", 5, 250),
    m("7-Eleven Thailand", 5499, "THB", 8, 5),
    m("Tokopedia", 5399, "IDR", 5, 30),
    m("Gojek Indonesia", 4121, "IDR", 5, 10),
    m("Cathay Pacific", 3099, "HKD", 3, 700),
    m("MTR", 4111, "HKD", 6, 5),
    m("Maxim's", 5812, "HKD", 4, 25),
];
