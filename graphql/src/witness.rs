//! Witnesses (c2sp.org/tlog-witness): the server submits each new checkpoint of its
//! transparency tree to every configured witness, with a consistency proof from the last
//! checkpoint that witness cosigned, and serves the checkpoint with the cosignatures it
//! got. An auditor who keeps a cosigned checkpoint knows the operator cannot later show a
//! history that forks from it without the witnesses refusing.

use anyhow::{bail, Context};
use lineage_schema::tlog::{self, Cosigner};
use lineage_store::Store;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One witness: where its `add-checkpoint` lives, and its cosignature key.
#[derive(Clone, Debug)]
pub struct WitnessAt {
    /// The submission prefix (`…/add-checkpoint` is appended).
    pub url: String,
    /// Its verifier key, `NAME+ID+BASE64` of an Ed25519 cosignature key.
    pub vkey: String,
    pub name: String,
}

impl std::str::FromStr for WitnessAt {
    type Err = anyhow::Error;

    /// `URL=VKEY`.
    fn from_str(text: &str) -> anyhow::Result<WitnessAt> {
        let Some((url, vkey)) = text.split_once('=') else {
            bail!("a witness is URL=VKEY (its submission prefix, then its verifier key): `{text}` has no `=`");
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("a witness's URL starts with http:// or https://: `{url}`");
        }
        let cosigner = Cosigner::parse(vkey).map_err(|rejection| anyhow::anyhow!("{rejection}"))?;
        Ok(WitnessAt {
            url: url.trim_end_matches('/').to_string(),
            vkey: vkey.to_string(),
            name: cosigner.name().to_string(),
        })
    }
}

/// Which witnesses to ask, and how often to look for a new checkpoint to submit.
#[derive(Clone, Debug)]
pub struct Witnessing {
    pub witnesses: Vec<WitnessAt>,
    pub every: Duration,
}

impl Default for Witnessing {
    fn default() -> Self {
        Witnessing {
            witnesses: Vec::new(),
            every: Duration::from_secs(10),
        }
    }
}

/// The latest checkpoint note with the cosignatures gathered for it (none until a witness
/// has answered), shared with `/tlog/checkpoint`.
pub type Cosigned = Arc<Mutex<Option<String>>>;

/// What one witness said.
enum Answer {
    Cosigned(String),
    /// It last cosigned another size: submit again from there.
    From(u64),
}

/// Submits new checkpoints until the task is dropped.
pub async fn run(store: Arc<Store>, witnessing: Witnessing, cosigned: Cosigned) {
    let client = reqwest::Client::new();
    // What each witness last cosigned, as far as this server knows (0 until told).
    let mut cosigned_sizes = vec![0u64; witnessing.witnesses.len()];
    let mut submitted = None;
    let mut ticks = tokio::time::interval(witnessing.every);
    loop {
        ticks.tick().await;
        let head = match store.tlog_head() {
            Ok((size, _)) => size,
            Err(error) => {
                tracing::warn!(%error, "witnessing: the transparency tree cannot be read");
                continue;
            }
        };
        let everyone = cosigned_sizes.iter().all(|&size| size == head);
        if submitted == Some(head) && everyone {
            continue;
        }
        match round(&store, &client, &witnessing, &mut cosigned_sizes).await {
            Ok(note) => {
                submitted = Some(head);
                *cosigned.lock().expect("cosigned lock") = Some(note);
            }
            Err(error) => tracing::warn!(error = %format!("{error:#}"), "witnessing: no checkpoint signed"),
        }
    }
}

/// Signs the tree as it stands and asks every witness to cosign it; the note with every
/// cosignature that came back (each checked against its witness's key).
async fn round(
    store: &Arc<Store>,
    client: &reqwest::Client,
    witnessing: &Witnessing,
    cosigned_sizes: &mut [u64],
) -> anyhow::Result<String> {
    let signing = Arc::clone(store);
    let note = tokio::task::spawn_blocking(move || signing.tlog_checkpoint(None)).await??;
    let size: u64 = note
        .lines()
        .nth(1)
        .and_then(|line| line.parse().ok())
        .context("the note names no size")?;
    let own = Store::tlog_verifier_key(store.dir(), None)?;
    let mut lines = String::new();
    for (witness, known) in witnessing.witnesses.iter().zip(cosigned_sizes.iter_mut()) {
        match cosign(store, client, witness, *known, size, &note).await {
            Ok(Answer::Cosigned(answer)) => {
                let with = format!("{note}{answer}");
                match tlog::open_checkpoint(&with, std::slice::from_ref(&own), std::slice::from_ref(&witness.vkey)) {
                    Ok(_) => {
                        *known = size;
                        lines.push_str(&answer);
                    }
                    Err(rejection) => {
                        tracing::warn!(witness = %witness.name, %rejection, "witnessing: a cosignature that does not hold")
                    }
                }
            }
            Ok(Answer::From(theirs)) => {
                // Told where the witness stands: the next round proves from there.
                *known = theirs;
                tracing::info!(witness = %witness.name, size = theirs, "witnessing: the witness last cosigned another size");
            }
            Err(error) => {
                tracing::warn!(witness = %witness.name, error = %format!("{error:#}"), "witnessing: no cosignature")
            }
        }
    }
    Ok(format!("{note}{lines}"))
}

/// One `add-checkpoint` request (retried once from the size a 409 names).
async fn cosign(
    store: &Arc<Store>,
    client: &reqwest::Client,
    witness: &WitnessAt,
    mut old: u64,
    size: u64,
    note: &str,
) -> anyhow::Result<Answer> {
    for _ in 0..2 {
        if old > size {
            bail!("the witness has cosigned {old} entries, more than this node's tree of {size} holds yet");
        }
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            let proving = Arc::clone(store);
            tokio::task::spawn_blocking(move || proving.tlog_tree_proof(old, size)).await??
        };
        let mut body = format!("old {old}\n");
        for hash in &proof {
            body.push_str(&tlog::base64(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(note);
        let response = client
            .post(format!("{}/add-checkpoint", witness.url))
            .body(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        match status {
            200 => return Ok(Answer::Cosigned(text)),
            409 => {
                let theirs: u64 = text
                    .trim()
                    .parse()
                    .with_context(|| format!("a 409 without a size: {text:?}"))?;
                if theirs == old {
                    bail!("the witness answered 409 for the size it names ({theirs})");
                }
                old = theirs;
            }
            _ => bail!("{status}: {}", text.trim()),
        }
    }
    Ok(Answer::From(old))
}
