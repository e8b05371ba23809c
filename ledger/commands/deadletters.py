"""`ledger dead-letters list|show|replay`: what the readers could not take, and sending it back.

Exit codes: 0 done; 1 a problem found (no such letter; letters still unreadable or not
replayable); 2 bad input; 3 Kafka unavailable or the dead-letter topic missing.
"""
from __future__ import annotations

import sys

import click
from rich.table import Table

from ledger.commands.common import EXIT_BAD_INPUT, EXIT_FOUND_PROBLEMS, err, fail, out, print_json
from ledger.commands.report import parse_instant


@click.group("dead-letters")
def dead_letters() -> None:
    """The dead-letter topic: counts by reason and source, one letter, replay after a fix.

    \b
    Example:
      ledger dead-letters list
      ledger dead-letters show session-events/2/1041/worker
      ledger dead-letters replay --reason unknown_fingerprint --dry-run
    """


@dead_letters.command("list")
@click.option("--since", help="Only letters written at or after this ISO 8601 instant.")
@click.option("--until", help="Only letters written before this ISO 8601 instant.")
@click.option("--samples", default=5, show_default=True, type=click.IntRange(0), help="Letter ids shown per reason.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_obj
def list_letters(settings, since, until, samples, as_json) -> None:
    """Count the letters by reason and by source topic, with sample letter ids.

    A message has one letter per reader that could not take it (worker and sink): `messages`
    counts each source offset once.

    \b
    Example:
      ledger dead-letters list
      ledger dead-letters list --since 2026-11-24T18:00:00Z --json
    """
    from streams.kafka.deadletters.topic import read_letters, summary

    found = read_letters(settings, since=parse_instant(since, "--since"), until=parse_instant(until, "--until"))
    document = summary(found)
    document["samples"] = _samples(found, samples)
    if as_json:
        print_json(document)
        return
    table = Table(title=f"{document['letters']:,} letter(s) for {document['messages']:,} message(s) on "
                        f"{settings.dead_letter_topic}, {document['replayed']:,} replayed")
    for column in ("reason", "source topic", "letters", "samples"):
        table.add_column(column, justify="right" if column == "letters" else "left")
    for row in document["by_reason_and_source"]:
        table.add_row(row["reason"], row["source_topic"], f"{row['letters']:,}",
                      "\n".join(document["samples"].get(row["reason"], [])))
    out.print(table)


def _samples(found, per_reason: int) -> dict[str, list[str]]:
    samples: dict[str, list[str]] = {}
    for item in found.letters:
        ids = samples.setdefault(item.letter.reason, [])
        if len(ids) < per_reason and item.letter.letter_id not in ids:
            ids.append(item.letter.letter_id)
    return samples


@dead_letters.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print the letter(s) as JSON.")
@click.pass_obj
def show(settings, ref, as_json) -> None:
    """Show the letters of one message: headers, sizes and a safe preview of its bytes.

    REF is a letter id (topic/partition/offset/reader), a source message (topic/partition/offset,
    every reader's letter), or a position on the dead-letter topic (partition:offset).

    \b
    Example:
      ledger dead-letters show session-events/2/1041/worker
      ledger dead-letters show 0:17 --json
    """
    from streams.kafka.deadletters.topic import describe, find, read_letters

    found = read_letters(settings)
    documents = [describe(item, found.replayed) for item in find(found, ref)]
    if not documents:
        fail(f"no letter {ref!r} on {settings.dead_letter_topic}; `ledger dead-letters list` shows "
             "letter ids", EXIT_FOUND_PROBLEMS)
    if as_json:
        print_json(documents)
        return
    for document in documents:
        table = Table(title=document["letter_id"], show_header=False)
        table.add_column("field")
        table.add_column("value", overflow="fold")
        for name in ("reason", "detected_by", "error", "source", "at", "original_bytes", "cut", "replayed"):
            table.add_row(name, str(document[name]))
        for name in ("key", "value"):
            table.add_row(name, _shown(document[name]))
        for header in document["original_headers"]:
            table.add_row(f"header {header['name']!r}", _shown(header["value"]))
        out.print(table)


def _shown(data) -> str:
    if data is None:
        return "null"
    shown = data["text"] if data["text"] is not None else data["hex"]
    return f"{data['bytes']} bytes: {shown}{' …' if data['more'] else ''}"


@dead_letters.command("replay")
@click.option("--reason", "reasons", multiple=True, help="Only letters with this reason (repeatable).")
@click.option("--source-topic", "source_topics", multiple=True, help="Only letters read from this topic (repeatable).")
@click.option("--ids", "refs", multiple=True,
              help="Only these letters: letter ids, source topic/partition/offset, or partition:offset (repeatable).")
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.pass_obj
def replay(settings, reasons, source_topics, refs, dry_run, as_json) -> None:
    """Send chosen letters back to their source topic, once, after the fix is deployed.

    Each message goes back with its original key, value and headers, only if it now decodes,
    and once however many readers dead-lettered it or however often this runs: each letter
    replayed is marked on the dead-letter topic. At least one filter is required.

    \b
    Example:
      ledger dead-letters replay --reason unknown_fingerprint --dry-run
      ledger dead-letters replay --reason unknown_fingerprint --source-topic session-events
      ledger dead-letters replay --ids session-events/2/1041/worker
    """
    from streams.kafka.deadletters.topic import choose, read_letters, replay_letters

    if not (reasons or source_topics or refs):
        fail("say which letters to replay: --reason, --source-topic or --ids", EXIT_BAD_INPUT)
    found = read_letters(settings)
    chosen = choose(found, reasons=reasons, source_topics=source_topics, refs=refs)
    result = replay_letters(settings, found, chosen, dry_run=dry_run)
    document = {"dry_run": dry_run, **result.as_dict()}
    if as_json:
        print_json(document)
    else:
        verb = "would send" if dry_run else "sent"
        err.print(f"{verb} {len(result.sent)} message(s) back; {len(result.already_replayed)} replayed "
                  f"before; {len(result.still_unreadable)} still unreadable; "
                  f"{len(result.not_replayable)} not replayable")
        for problem in result.still_unreadable:
            err.print(f"  still unreadable, left alone: {problem['message']} ({problem['reason']})")
        for problem in result.not_replayable:
            err.print(f"  not replayable: {problem['message']} ({problem['why']})")
    if result.still_unreadable or result.not_replayable:
        sys.exit(EXIT_FOUND_PROBLEMS)
