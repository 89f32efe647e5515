"""Every knowledge-base format read with its structure, cited back to where the text came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.core.errors import DataError
from tunesmith.knowledge.chunk import chunk_document
from tunesmith.knowledge.config import RecordsConfig
from tunesmith.knowledge.documents import read_documents

HTML = """<!doctype html><html><head><title>Warranty | Northwind</title></head><body>
<nav><a href="/">Home</a> <a href="/shop">Shop</a> <a href="/cart">Cart</a> Sign in</nav>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies?</div>
<main><article><h1>Warranty</h1>
<p>Every Northwind product carries a lifetime warranty against defects in materials and workmanship.
Send the item to our repair center with proof of purchase and we repair or replace it free of charge.</p>
<h2>What is not covered</h2>
<p>Normal wear and tear, accidents and damage from improper care are not covered by the warranty,
but our repair team can fix most of these for a fair price.</p>
<ul><li>Zippers worn by years of use</li><li>Burn holes from campfires</li></ul>
</article></main>
<footer>© 2026 Northwind Outfitters. All rights reserved. Privacy · Terms · Careers</footer>
</body></html>"""


def test_html_keeps_main_content_and_headings(tmp_path: Path) -> None:
    page = tmp_path / "warranty.html"
    page.write_text(HTML)
    [doc] = read_documents(page, tmp_path)
    assert "lifetime warranty" in doc.text and "Zippers worn" in doc.text
    for boilerplate in ("cookies", "All rights reserved", "Sign in"):
        assert boilerplate not in doc.text
    headings = {c.heading for c in chunk_document(doc, budget=200, overlap=0)}
    assert "Warranty > What is not covered" in headings


def test_pdf_pages_become_sections(tmp_path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path = tmp_path / "manual.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setTitle("Stove manual")
    pdf.drawString(72, 760, "Attach the EN 417 canister by screwing it in clockwise until it stops.")
    pdf.showPage()
    pdf.drawString(72, 760, "Never use the stove inside a closed tent: carbon monoxide builds up fast.")
    pdf.save()
    [doc] = read_documents(path, tmp_path)
    chunks = chunk_document(doc, budget=200, overlap=0)
    assert [c.heading for c in chunks] == ["Stove manual > Page 1", "Stove manual > Page 2"]
    assert "carbon monoxide" in chunks[1].text and doc.text[chunks[1].start : chunks[1].end] == chunks[1].text


def test_docx_heading_and_list_styles(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Rentals", level=1)
    document.add_paragraph("Tents, packs and snowshoes can be rented for up to 14 days.")
    document.add_heading("Deposits", level=2)
    document.add_paragraph("A refundable deposit is held on your card.", style="List Bullet")
    document.add_paragraph("It is released when the gear comes back clean.", style="List Bullet")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Tent"
    table.rows[0].cells[1].text = "$25 per day"
    path = tmp_path / "rentals.docx"
    document.save(str(path))
    [doc] = read_documents(path, tmp_path)
    assert "## Rentals" in doc.text and "- A refundable deposit" in doc.text and "Tent | $25 per day" in doc.text
    headings = [c.heading for c in chunk_document(doc, budget=200, overlap=0)]
    assert "Rentals > Deposits" in headings


def test_records_become_one_document_each(tmp_path: Path) -> None:
    csv_path = tmp_path / "faq.csv"
    csv_path.write_text(
        'id,question,answer\nq1,Do you ship to Canada?,"Yes, in 5 to 9 business days."\nq2,Gift cards?,\n'
    )
    jsonl = tmp_path / "faq.jsonl"
    jsonl.write_text(json.dumps({"title": "Price match", "body": "We match prices within 14 days."}) + "\n")
    records = RecordsConfig(text_field="answer", title_field="question", id_field="id")
    docs = read_documents(csv_path, tmp_path, records)
    # q2 has no answer: nothing to index, nothing invented
    assert [d.path for d in docs] == ["faq.csv#q1"] and docs[0].file == "faq.csv"
    assert chunk_document(docs[0])[0].heading == "Do you ship to Canada?"
    [doc] = read_documents(jsonl, tmp_path, RecordsConfig(text_field="body", title_field="title"))
    assert doc.path == "faq.jsonl#L1" and "14 days" in doc.text
    with pytest.raises(DataError, match="text field 'answer'"):
        read_documents(jsonl, tmp_path, records)
    with pytest.raises(DataError, match="which field holds the text"):
        read_documents(csv_path, tmp_path, None)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "cannot parse PDF"),
        ("broken.docx", b"PK\x03\x04 not a zip", "cannot parse DOCX"),
        ("empty.html", b"<html><head><script>var x = 1;</script></head><body></body></html>", "no main content"),
        ("latin1.md", "caf\xe9".encode("latin-1"), "not valid UTF-8"),
    ],
)
def test_unreadable_files_say_why(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=reason) as err:
        read_documents(path, tmp_path)
    assert err.value.where == str(path)
