"""Frozen configuration, one dataclass per stage, plus the whole-run `Config`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from .errors import ConfigError

Representative = Literal["cleanest", "longest", "first", "shortest"]
OnError = Literal["raise", "skip"]
InputFormat = Literal["auto", "text", "jsonl", "parquet", "warc"]
OutputFormat = Literal["auto", "jsonl", "parquet"]
Extractor = Literal["resiliparse", "trafilatura"]
INPUT_FORMATS: tuple[str, ...] = ("auto", "text", "jsonl", "parquet", "warc")
OUTPUT_FORMATS: tuple[str, ...] = ("auto", "jsonl", "parquet")
EXTRACTORS: tuple[str, ...] = ("resiliparse", "trafilatura")
REPRESENTATIVES: tuple[str, ...] = ("cleanest", "longest", "first", "shortest")


@dataclass(frozen=True)
class ReadConfig:
    """How records are found in the input."""

    id_field: str = "id"
    text_field: str = "text"
    on_error: OnError = "raise"
    # auto: by file name, else by the first bytes; applies per file in a folder
    format: InputFormat = "auto"
    # Main text of WARC HTML responses. resiliparse by measurement (bench/warc_speed.py): the
    # same end-to-end F1 as trafilatura or better, at 4-5 times the pages per CPU-second.
    extractor: Extractor = "resiliparse"
    # Size limits that keep memory bounded whatever the input (0: no limit). A record (a
    # JSONL line, a WARC/WET record's content, a text file) is never held whole when it is
    # larger; a document's text is checked once read; a compressed file is read until it has
    # decompressed to `max_stream_bytes`. A record or document over its limit is an error, or
    # a skip. The defaults keep a run of two workers under 2 GiB (README, "Limits").
    max_record_bytes: int = 32 << 20
    max_document_chars: int = 4 << 20
    max_stream_bytes: int = 0

    def __post_init__(self) -> None:
        for name in ("max_record_bytes", "max_document_chars", "max_stream_bytes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (0: no limit), got {getattr(self, name)}")
        if self.format not in INPUT_FORMATS:
            raise ConfigError(
                f"format must be one of {', '.join(INPUT_FORMATS)}, got {self.format!r}"
            )
        if self.extractor not in EXTRACTORS:
            raise ConfigError(
                f"extractor must be one of {', '.join(EXTRACTORS)}, got {self.extractor!r}"
            )


@dataclass(frozen=True)
class NormalizeConfig:
    """Which kinds of crawl noise are folded away before comparison (all on by default)."""

    t2s: bool = True
    fold_width: bool = True
    casefold: bool = True
    strip_pinyin: bool = True
    strip_mojibake: bool = True
    strip_junk: bool = True
    strip_html: bool = True
    strip_lists: bool = True  # lists of links (related articles, rankings)
    fold_phrases: bool = True  # Taiwan vocabulary back to mainland words (with t2s)


@dataclass(frozen=True)
class ShingleConfig:
    """Token n-grams: a CJK character is one token, a Latin word or number is one token."""

    ngram: int = 4


@dataclass(frozen=True)
class SignatureConfig:
    """MinHash parameters; `seed` fully determines the permutations (as in datasketch)."""

    num_perm: int = 128
    seed: int = 1


@dataclass(frozen=True)
class LSHConfig:
    """Banding. Candidates are pairs estimated at Jaccard >= `threshold`; bands and rows are
    derived from it (favouring recall) unless both are given. It sits below the verification
    threshold because a truncated copy contained in its source has a low Jaccard similarity."""

    threshold: float = 0.25
    bands: int | None = None
    rows: int | None = None
    max_bucket: int = 64  # larger buckets are paired as a star plus a chain, not all pairs


@dataclass(frozen=True)
class RepeatConfig:
    """Text the corpus repeats (repeats.py): a shingle found in at least `min_groups` groups of
    versions of one text is set aside before verification; 0 turns the pass off. Two documents
    are in one group when their whole shingle sets have Jaccard >= `group_jaccard`, or when
    one holds >= `group_containment` of the other and is at most 1 / `group_ratio` times its
    size (a copy in another site's frame, a truncated copy, but not a bare disclaimer in a
    page). Counts go to 2**`table_bits` slots. A second count takes only the groups whose
    text is at most `max_share` repeated by the first; a shingle is set aside only if it
    is also in one of them: copies of one article that fell into many groups (hundreds of
    lightly edited reposts) hold nothing but the article, while a frame is also in pages
    with articles of their own. Nor is a shingle set aside when one group holds at least
    `largest_share` of the documents that carry it (0 turns that off): one article in
    many versions, most of them in one group."""

    min_groups: int = 32
    group_jaccard: float = 0.6
    group_containment: float = 0.8
    group_ratio: float = 0.2
    table_bits: int = 24
    max_share: float = 0.8
    largest_share: float = 0.7

    def __post_init__(self) -> None:
        if self.min_groups < 0:
            raise ConfigError(f"repeat min_groups must be >= 0, got {self.min_groups}")
        if not 0.0 < self.group_jaccard <= 1.0:
            raise ConfigError(f"repeat group_jaccard must be in (0, 1], got {self.group_jaccard}")
        if not 0.0 <= self.largest_share <= 1.0:
            raise ConfigError(f"repeat largest_share must be in [0, 1], got {self.largest_share}")
        if not 0.0 < self.max_share <= 1.0:
            raise ConfigError(f"repeat max_share must be in (0, 1], got {self.max_share}")
        if not 8 <= self.table_bits <= 30:
            raise ConfigError(f"repeat table_bits must be in [8, 30], got {self.table_bits}")


@dataclass(frozen=True)
class VerifyConfig:
    """A pair is a match when Jaccard >= threshold or containment >= containment, both on the
    documents' own text (repeated text set aside). Containment counts only when both documents
    have at least `min_own` shingles of their own and the smaller has at least `min_share` as
    many as the larger; otherwise it is taken as the Jaccard. A document left with fewer than
    `min_own` once some were set aside has no own text (a page of site text alone). Two
    documents that each have at
    least `numbers` numbers where the other has a different number in that place are records
    about different subjects, never a match (verify.py); 0 turns that off."""

    threshold: float = 0.6
    containment: float = 0.8
    min_own: int = 8
    numbers: int = 4
    min_share: float = 0.1

    def __post_init__(self) -> None:
        if self.numbers < 0:
            raise ConfigError(f"differing numbers must be >= 0 (0: off), got {self.numbers}")
        if not 0.0 <= self.min_share <= 1.0:
            raise ConfigError(f"min share must be in [0, 1], got {self.min_share}")


@dataclass(frozen=True)
class ClusterConfig:
    """Which member of a cluster is kept (`cluster.representatives`): by default the most
    complete and cleanest; or the longest, first or shortest."""

    representative: Representative = "cleanest"

    def __post_init__(self) -> None:
        if self.representative not in REPRESENTATIVES:
            raise ConfigError(
                f"representative must be one of {', '.join(REPRESENTATIVES)}, "
                f"got {self.representative!r}"
            )


@dataclass(frozen=True)
class RefineConfig:
    """Chain splitting (cluster.split_chains): a member stays with its representative when
    jaccard >= `jaccard` or containment >= `containment` (floors, not match thresholds). After
    `max_rounds` splits of one chain the members still unplaced are left alone as singletons
    (kept): a bound on work, not a decision about them."""

    jaccard: float = 0.3
    containment: float = 0.5
    max_rounds: int = 16
    # A chain (a group whose representative is not close to every member) is split around
    # the centre with the most close members, estimated: `probes` candidates, each measured
    # against `sample` members, both spread evenly over the group.
    probes: int = 8
    sample: int = 128
    # ... when that centre is close to more than `gain` times as many of the sample as the
    # representative is; else the chain is split around its representative.
    gain: float = 2.0

    def __post_init__(self) -> None:
        for name in ("jaccard", "containment"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"refine {name} floor must be in [0, 1], got {value}")
        if not self.gain >= 1.0:
            raise ConfigError(f"refine gain must be at least 1, got {self.gain}")
        for name in ("max_rounds", "probes", "sample"):
            if getattr(self, name) < 1:
                raise ConfigError(f"refine {name} must be at least 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class OutputConfig:
    """Which files a run writes: kept/removed split, or every record annotated with its fate.
    Format auto: Parquet when every input is Parquet, else JSONL."""

    format: OutputFormat = "auto"
    annotate: bool = False

    def __post_init__(self) -> None:
        if self.format not in OUTPUT_FORMATS:
            raise ConfigError(
                f"output format must be one of {', '.join(OUTPUT_FORMATS)}, got {self.format!r}"
            )


@dataclass(frozen=True)
class Config:
    """Everything that determines a run's output (besides the input itself)."""

    read: ReadConfig = field(default_factory=ReadConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    shingle: ShingleConfig = field(default_factory=ShingleConfig)
    signature: SignatureConfig = field(default_factory=SignatureConfig)
    lsh: LSHConfig = field(default_factory=LSHConfig)
    repeat: RepeatConfig = field(default_factory=RepeatConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    jobs: int = 0  # 0: all cores; the output never depends on it
    batch_size: int = 256

    def __post_init__(self) -> None:
        v = self.verify
        if not 0.0 < v.threshold <= 1.0:
            raise ConfigError(f"threshold must be in (0, 1], got {v.threshold}")
        if not 0.0 < v.containment <= 1.0:
            raise ConfigError(f"containment must be in (0, 1], got {v.containment}")
        if self.shingle.ngram < 1:
            raise ConfigError(f"ngram must be at least 1, got {self.shingle.ngram}")
        if self.signature.num_perm < 2:
            raise ConfigError(f"num-perm must be at least 2, got {self.signature.num_perm}")
        lsh = self.lsh
        if not 0.0 < lsh.threshold <= 1.0:
            raise ConfigError(f"lsh threshold must be in (0, 1], got {lsh.threshold}")
        if (lsh.bands is None) != (lsh.rows is None):
            raise ConfigError("give both bands and rows, or neither")
        if lsh.bands is not None and lsh.rows is not None:
            if lsh.bands < 1 or lsh.rows < 1:
                raise ConfigError("bands and rows must be positive")
            if lsh.bands * lsh.rows > self.signature.num_perm:
                raise ConfigError(
                    f"bands * rows = {lsh.bands * lsh.rows} exceeds num-perm "
                    f"{self.signature.num_perm}"
                )
        if self.jobs < 0:
            raise ConfigError(f"jobs must be >= 0, got {self.jobs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be positive, got {self.batch_size}")

    @classmethod
    def from_options(cls, **options: Any) -> Config:
        """A Config from the options of `dedup run`, named as on the command line with `_` for
        `-` (every one optional; `format` is `--format`):

        >>> Config.from_options(threshold=0.7, ngram=5, on_error="skip").verify
        VerifyConfig(threshold=0.7, containment=0.8, min_own=8, numbers=4, min_share=0.1)
        """
        unknown = sorted(set(options) - OPTIONS.keys())
        if unknown:
            known = ", ".join(sorted(OPTIONS))
            raise ConfigError(f"unknown option {unknown[0]!r} (known: {known})")
        stages: dict[str, dict[str, Any]] = {}
        for name, value in options.items():
            stage, key = OPTIONS[name]
            stages.setdefault(stage, {})[key] = value
        default = cls()
        changes: dict[str, Any] = {}
        for stage, values in stages.items():
            if stage:
                changes[stage] = replace(getattr(default, stage), **values)
            else:
                changes.update(values)
        return replace(default, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, as written into summary.json. `jobs` is left out: the output
        never depends on it, and summary.json is the same whatever it is."""
        out = asdict(self)
        del out["jobs"]
        return out


# The options of `dedup run` that `Config.from_options` takes: name -> (stage, field); an
# empty stage is a field of Config itself.
OPTIONS: dict[str, tuple[str, str]] = {
    "id_field": ("read", "id_field"),
    "text_field": ("read", "text_field"),
    "on_error": ("read", "on_error"),
    "format": ("read", "format"),
    "extractor": ("read", "extractor"),
    "max_record_bytes": ("read", "max_record_bytes"),
    "max_document_chars": ("read", "max_document_chars"),
    "max_stream_bytes": ("read", "max_stream_bytes"),
    "ngram": ("shingle", "ngram"),
    "num_perm": ("signature", "num_perm"),
    "seed": ("signature", "seed"),
    "lsh_threshold": ("lsh", "threshold"),
    "bands": ("lsh", "bands"),
    "rows": ("lsh", "rows"),
    "threshold": ("verify", "threshold"),
    "containment": ("verify", "containment"),
    "min_own": ("verify", "min_own"),
    "differing_numbers": ("verify", "numbers"),
    "min_share": ("verify", "min_share"),
    "repeat_min_groups": ("repeat", "min_groups"),
    "representative": ("cluster", "representative"),
    "output_format": ("output", "format"),
    "annotate": ("output", "annotate"),
    "jobs": ("", "jobs"),
    "batch_size": ("", "batch_size"),
}
