//! MLflow's search grammar: filters (`metrics.acc > 0.9 and params.model = 'x' and
//! tags.`team` LIKE 'a%'`) and orderings (`metrics.acc DESC`), tokenized and parsed here
//! into comparisons that `matches` evaluates and `compare` sorts by.

use std::cmp::Ordering;

/// What a key names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Field {
    Metric,
    Param,
    Tag,
    /// A run's or experiment's own attribute (`status`, `start_time`, `name`, …).
    Attribute,
    /// A dataset the run used (`name`, `digest`, `context`).
    Dataset,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
}

/// The right-hand side of a comparison.
#[derive(Clone, PartialEq, Debug)]
pub enum Literal {
    Number(f64),
    Text(String),
    List(Vec<String>),
}

/// One `field.key op value` of a filter; a filter is the conjunction of its comparisons.
#[derive(Clone, PartialEq, Debug)]
pub struct Comparison {
    pub field: Field,
    pub key: String,
    pub op: Op,
    pub value: Literal,
}

/// One `field.key [ASC|DESC]` of an ordering.
#[derive(Clone, PartialEq, Debug)]
pub struct OrderBy {
    pub field: Field,
    pub key: String,
    pub ascending: bool,
}

/// A value a run or experiment holds for a key.
#[derive(Clone, PartialEq, Debug)]
pub enum Held {
    Number(f64),
    Text(String),
}

#[derive(Clone, PartialEq, Debug)]
enum Token {
    /// A bare word: a key, a keyword (`and`, `like`, `in`, `not`, `asc`, `desc`) or a number.
    Word(String),
    /// A backtick- or double-quoted name.
    Quoted(String),
    /// A single- or double-quoted value.
    Text(String),
    Symbol(&'static str),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        if c.is_whitespace() {
            at += 1;
        } else if c == '\'' || c == '"' || c == '`' {
            let end = (at + 1..chars.len())
                .find(|&index| chars[index] == c)
                .ok_or_else(|| format!("unclosed {c} at character {}", at + 1))?;
            let inner: String = chars[at + 1..end].iter().collect();
            // A double-quoted word right after a dot is a key; anywhere else, a value.
            let after_dot = matches!(found.last(), Some(Token::Symbol(".")));
            found.push(match c {
                '`' => Token::Quoted(inner),
                '"' if after_dot => Token::Quoted(inner),
                _ => Token::Text(inner),
            });
            at = end + 1;
        } else if starts_number(&chars[at..]) {
            let start = at;
            at += 1;
            while at < chars.len()
                && (chars[at].is_ascii_digit()
                    || chars[at] == '.'
                    || chars[at].eq_ignore_ascii_case(&'e')
                    || ((chars[at] == '-' || chars[at] == '+') && chars[at - 1].eq_ignore_ascii_case(&'e')))
            {
                at += 1;
            }
            found.push(Token::Word(chars[start..at].iter().collect()));
        } else if let Some(symbol) = ["!=", "<=", ">=", "=", "<", ">", "(", ")", ",", "."]
            .into_iter()
            .find(|symbol| chars[at..].iter().take(symbol.len()).copied().eq(symbol.chars()))
        {
            found.push(Token::Symbol(symbol));
            at += symbol.len();
        } else if c.is_alphanumeric() || c == '_' {
            let start = at;
            while at < chars.len() && (chars[at].is_alphanumeric() || "_-+:".contains(chars[at])) {
                at += 1;
            }
            found.push(Token::Word(chars[start..at].iter().collect()));
        } else {
            return Err(format!("unexpected `{c}` at character {}", at + 1));
        }
    }
    Ok(found)
}

/// A number starts here: a digit, or a sign or dot before one (not a key's first letter).
fn starts_number(rest: &[char]) -> bool {
    match rest {
        [c, ..] if c.is_ascii_digit() => true,
        ['-' | '+' | '.', next, ..] if next.is_ascii_digit() => true,
        ['-' | '+', '.', next, ..] if next.is_ascii_digit() => true,
        _ => false,
    }
}

fn field_of(word: &str) -> Option<Field> {
    match word.to_ascii_lowercase().as_str() {
        "metric" | "metrics" => Some(Field::Metric),
        "param" | "params" | "parameter" | "parameters" => Some(Field::Param),
        "tag" | "tags" => Some(Field::Tag),
        "attribute" | "attributes" | "attr" | "run" => Some(Field::Attribute),
        "dataset" | "datasets" => Some(Field::Dataset),
        _ => None,
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&mut self, keyword: &str) -> bool {
        match self.peek() {
            Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword) => {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    /// `field.key`, or a bare attribute name (`name`, `status`).
    fn key(&mut self) -> Result<(Field, String), String> {
        let first = match self.next() {
            Some(Token::Word(word)) => word,
            Some(Token::Quoted(word)) => return Ok((Field::Attribute, word)),
            other => {
                return Err(format!(
                    "expected a key such as `metrics.acc`, found {}",
                    shown(other.as_ref())
                ))
            }
        };
        if self.peek() != Some(&Token::Symbol(".")) {
            return Ok((Field::Attribute, first));
        }
        self.at += 1;
        let field = field_of(&first)
            .ok_or_else(|| format!("`{first}` is not a key type: use metrics, params, tags, attributes or datasets"))?;
        let mut key = match self.next() {
            Some(Token::Quoted(key)) => return Ok((field, key)),
            Some(Token::Word(key)) => key,
            other => {
                return Err(format!(
                    "expected a key after `{first}.`, found {}",
                    shown(other.as_ref())
                ))
            }
        };
        // An unquoted key may hold dots itself: `tags.mlflow.parentRunId`.
        while self.peek() == Some(&Token::Symbol(".")) {
            self.at += 1;
            match self.next() {
                Some(Token::Word(part)) => {
                    key.push('.');
                    key.push_str(&part);
                }
                other => {
                    return Err(format!(
                        "expected the rest of key `{key}.`, found {}",
                        shown(other.as_ref())
                    ))
                }
            }
        }
        Ok((field, key))
    }

    fn op(&mut self) -> Result<Op, String> {
        let op = match self.next() {
            Some(Token::Symbol("=")) => Op::Eq,
            Some(Token::Symbol("!=")) => Op::Ne,
            Some(Token::Symbol("<")) => Op::Lt,
            Some(Token::Symbol("<=")) => Op::Le,
            Some(Token::Symbol(">")) => Op::Gt,
            Some(Token::Symbol(">=")) => Op::Ge,
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("like") => Op::Like,
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("ilike") => Op::ILike,
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("in") => Op::In,
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("not") && self.keyword("in") => Op::NotIn,
            other => {
                return Err(format!(
                    "expected a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN), found {}",
                    shown(other.as_ref())
                ))
            }
        };
        Ok(op)
    }

    fn value(&mut self, op: Op) -> Result<Literal, String> {
        if matches!(op, Op::In | Op::NotIn) {
            if self.next() != Some(Token::Symbol("(")) {
                return Err("IN takes a list in parentheses: ('a', 'b')".into());
            }
            let mut items = Vec::new();
            loop {
                match self.next() {
                    Some(Token::Text(item)) => items.push(item),
                    other => {
                        return Err(format!(
                            "expected a quoted value in the list, found {}",
                            shown(other.as_ref())
                        ))
                    }
                }
                match self.next() {
                    Some(Token::Symbol(",")) => continue,
                    Some(Token::Symbol(")")) => return Ok(Literal::List(items)),
                    other => {
                        return Err(format!(
                            "expected `,` or `)` in the list, found {}",
                            shown(other.as_ref())
                        ))
                    }
                }
            }
        }
        match self.next() {
            Some(Token::Text(text)) => Ok(Literal::Text(text)),
            Some(Token::Word(word)) => word
                .parse::<f64>()
                .map(Literal::Number)
                .map_err(|_| format!("`{word}` is neither a number nor a quoted string")),
            other => Err(format!("expected a value, found {}", shown(other.as_ref()))),
        }
    }
}

fn shown(token: Option<&Token>) -> String {
    match token {
        None => "the end".into(),
        Some(Token::Word(word)) => format!("`{word}`"),
        Some(Token::Quoted(word)) => format!("`{word}`"),
        Some(Token::Text(text)) => format!("'{text}'"),
        Some(Token::Symbol(symbol)) => format!("`{symbol}`"),
    }
}

/// Parses a filter: comparisons joined by AND (MLflow's grammar has no OR). An empty
/// filter matches everything.
pub fn parse_filter(text: &str) -> Result<Vec<Comparison>, String> {
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
    };
    let mut comparisons = Vec::new();
    while parser.peek().is_some() {
        if !comparisons.is_empty() && !parser.keyword("and") {
            return Err(format!(
                "expected AND between comparisons, found {} (MLflow filters have no OR)",
                shown(parser.peek())
            ));
        }
        let (field, key) = parser.key()?;
        let op = parser.op()?;
        let value = parser.value(op)?;
        let numeric = matches!(value, Literal::Number(_));
        match (field, op) {
            (Field::Metric, Op::Like | Op::ILike | Op::In | Op::NotIn) => {
                return Err(format!(
                    "metrics compare as numbers: {op:?} does not apply to metrics.{key}"
                ))
            }
            (Field::Metric, _) if !numeric => {
                return Err(format!("metrics.{key} is compared with a number, not a string"))
            }
            (Field::Param | Field::Tag | Field::Dataset, Op::Lt | Op::Le | Op::Gt | Op::Ge) => {
                return Err(format!("{key} is a string: use =, !=, LIKE or ILIKE"))
            }
            _ => {}
        }
        comparisons.push(Comparison { field, key, op, value });
    }
    Ok(comparisons)
}

/// Parses one `order_by` entry.
pub fn parse_order(text: &str) -> Result<OrderBy, String> {
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
    };
    let (field, key) = parser.key()?;
    let ascending = if parser.keyword("desc") {
        false
    } else {
        parser.keyword("asc");
        true
    };
    if parser.peek().is_some() {
        return Err(format!("unexpected {} in order_by `{text}`", shown(parser.peek())));
    }
    Ok(OrderBy { field, key, ascending })
}

/// SQL's LIKE: `%` any run of characters, `_` any one.
pub fn like(text: &str, pattern: &str) -> bool {
    fn from(text: &[char], pattern: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('%', rest)) => (0..=text.len()).any(|skip| from(&text[skip..], rest)),
            Some(('_', rest)) => !text.is_empty() && from(&text[1..], rest),
            Some((c, rest)) => text.first() == Some(c) && from(&text[1..], rest),
        }
    }
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    from(&text, &pattern)
}

impl Comparison {
    /// Whether `held` (what the run or experiment holds for the key; None when it holds
    /// nothing, which no comparison matches) satisfies this comparison.
    pub fn holds(&self, held: Option<&Held>) -> bool {
        let Some(held) = held else { return false };
        match (held, &self.value) {
            (Held::Number(held), Literal::Number(wanted)) => ordered(self.op, held.partial_cmp(wanted)),
            (Held::Text(held), Literal::Text(wanted)) => match self.op {
                Op::Like => like(held, wanted),
                Op::ILike => like(&held.to_lowercase(), &wanted.to_lowercase()),
                op => ordered(op, Some(held.as_str().cmp(wanted.as_str()))),
            },
            (Held::Text(held), Literal::List(items)) => match self.op {
                Op::In => items.contains(held),
                Op::NotIn => !items.contains(held),
                _ => false,
            },
            // A number held as text (a time compared with a quoted value) compares as text.
            (Held::Number(held), Literal::Text(wanted)) => wanted
                .parse::<f64>()
                .is_ok_and(|wanted| ordered(self.op, held.partial_cmp(&wanted))),
            (Held::Text(held), Literal::Number(wanted)) => held
                .parse::<f64>()
                .is_ok_and(|held| ordered(self.op, held.partial_cmp(wanted))),
            (Held::Number(_), Literal::List(_)) => false,
        }
    }
}

fn ordered(op: Op, ordering: Option<Ordering>) -> bool {
    let Some(ordering) = ordering else { return false };
    match op {
        Op::Eq => ordering == Ordering::Equal,
        Op::Ne => ordering != Ordering::Equal,
        Op::Lt => ordering == Ordering::Less,
        Op::Le => ordering != Ordering::Greater,
        Op::Gt => ordering == Ordering::Greater,
        Op::Ge => ordering != Ordering::Less,
        Op::Like | Op::ILike | Op::In | Op::NotIn => false,
    }
}

/// Orders two held values for `order_by`: what is missing sorts last either way.
pub fn compare(left: Option<&Held>, right: Option<&Held>, ascending: bool) -> Ordering {
    let ordering = match (left, right) {
        (None, None) => return Ordering::Equal,
        (None, Some(_)) => return Ordering::Greater,
        (Some(_), None) => return Ordering::Less,
        (Some(Held::Number(left)), Some(Held::Number(right))) => left.total_cmp(right),
        (Some(Held::Text(left)), Some(Held::Text(right))) => left.cmp(right),
        (Some(Held::Number(_)), Some(Held::Text(_))) => Ordering::Less,
        (Some(Held::Text(_)), Some(Held::Number(_))) => Ordering::Greater,
    };
    if ascending {
        ordering
    } else {
        ordering.reverse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison(field: Field, key: &str, op: Op, value: Literal) -> Comparison {
        Comparison {
            field,
            key: key.into(),
            op,
            value,
        }
    }

    #[test]
    fn the_issues_example_parses_into_four_comparisons() {
        let parsed = parse_filter(
            "metrics.acc > 0.9 and params.model = 'x' and tags.`team` LIKE 'a%' and attributes.status = 'FINISHED'",
        )
        .unwrap();
        assert_eq!(
            parsed,
            vec![
                comparison(Field::Metric, "acc", Op::Gt, Literal::Number(0.9)),
                comparison(Field::Param, "model", Op::Eq, Literal::Text("x".into())),
                comparison(Field::Tag, "team", Op::Like, Literal::Text("a%".into())),
                comparison(Field::Attribute, "status", Op::Eq, Literal::Text("FINISHED".into())),
            ]
        );
    }

    #[test]
    fn keys_may_be_quoted_and_values_listed() {
        let parsed = parse_filter(
            r#"metrics."val loss" <= -1.5e-3 AND attributes.run_id IN ('a', 'b') and tags.x NOT IN ('c')"#,
        )
        .unwrap();
        assert_eq!(
            parsed[0],
            comparison(Field::Metric, "val loss", Op::Le, Literal::Number(-1.5e-3))
        );
        assert_eq!(parsed[1].value, Literal::List(vec!["a".into(), "b".into()]));
        assert_eq!(parsed[2].op, Op::NotIn);
        assert_eq!(parse_filter("name = 'Default'").unwrap()[0].field, Field::Attribute);
        assert_eq!(
            parse_filter("tags.mlflow.parentRunId = 'r'").unwrap()[0].key,
            "mlflow.parentRunId"
        );
        assert_eq!(parse_filter("").unwrap(), vec![]);
    }

    #[test]
    fn bad_filters_are_refused_with_what_was_wrong() {
        for (filter, says) in [
            ("metrics.acc > 'high'", "compared with a number"),
            ("metrics.acc LIKE '1%'", "compare as numbers"),
            ("params.a > 'b'", "is a string"),
            ("metrics.a > 1 or metrics.b > 2", "no OR"),
            ("colour.a = 'b'", "not a key type"),
            ("params.a = 'b", "unclosed"),
            ("params.a ~ 'b'", "unexpected `~`"),
            ("params.a =", "expected a value"),
        ] {
            let error = parse_filter(filter).unwrap_err();
            assert!(error.contains(says), "{filter}: {error}");
        }
    }

    #[test]
    fn orderings_default_to_ascending() {
        assert_eq!(
            parse_order("metrics.acc DESC").unwrap(),
            OrderBy {
                field: Field::Metric,
                key: "acc".into(),
                ascending: false
            }
        );
        assert!(parse_order("attributes.start_time").unwrap().ascending);
        assert!(parse_order("metrics.acc sideways").is_err());
    }

    #[test]
    fn comparisons_hold_as_sql_would_have_them() {
        let like = comparison(Field::Tag, "t", Op::Like, Literal::Text("a_c%".into()));
        assert!(like.holds(Some(&Held::Text("abcdef".into()))));
        assert!(!like.holds(Some(&Held::Text("ABCdef".into()))));
        let ilike = comparison(Field::Tag, "t", Op::ILike, Literal::Text("a_c%".into()));
        assert!(ilike.holds(Some(&Held::Text("ABCdef".into()))));
        let over = comparison(Field::Metric, "m", Op::Gt, Literal::Number(0.5));
        assert!(over.holds(Some(&Held::Number(0.7))));
        assert!(!over.holds(Some(&Held::Number(0.5))));
        assert!(!over.holds(None), "a run without the metric does not match");
        let mut sorted = vec![Some(Held::Number(2.0)), None, Some(Held::Number(3.0))];
        sorted.sort_by(|a, b| compare(a.as_ref(), b.as_ref(), false));
        assert_eq!(sorted, vec![Some(Held::Number(3.0)), Some(Held::Number(2.0)), None]);
    }
}
