"""The sample inputs shipped under `workflows/data/`, generated deterministically.

`python -m workflows.samples` rewrites the files; a test checks that the committed
files equal what this module generates, so the ground truth the tests use (task
labels of the LLM call log, the PII planted in it) cannot drift from the data.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent / "data"

# PII planted in the LLM call log; redaction must remove every one of these.
PII_EMAILS = [
    "maria.gonzalez@example.com", "j.smith84@mailbox.org", "priya.r@acme-corp.io",
    "tom_baker@webmail.net", "li.wei@fastmail.com", "accounts@northwind-traders.com",
]
PII_PHONES = ["+1 (415) 555-0132", "212-555-0198", "+44 20 7946 0958", "(646) 555-0147", "+1 312 555 0111"]
# Test card numbers that pass the Luhn check (Visa, Mastercard, Amex test ranges).
PII_CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "4012888888881881", "3782 822463 10005"]

TASK_TYPES = ["sentiment", "invoice_extraction", "ticket_routing", "sql_generation", "summarization"]


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


assert all(_luhn_ok("".join(c for c in card if c.isdigit())) for card in PII_CARDS)

# ---------------------------------------------------------------------------------------
# LLM call log: OpenAI-style request/response records from five known task types.

_PRODUCTS = ["wireless earbuds", "standing desk", "espresso machine", "running shoes", "air purifier",
             "mechanical keyboard", "yoga mat", "4K monitor", "backpack", "electric kettle", "phone case",
             "smart watch", "blender", "office chair", "hiking boots"]
_POS = ["Absolutely love the {p}, works perfectly and arrived early.",
        "The {p} exceeded my expectations, great build quality for the price.",
        "Best {p} I have owned. Setup took two minutes and it just works.",
        "Really happy with this {p}; my whole family uses it every day."]
_NEG = ["The {p} broke after three days and support never answered.",
        "Terrible {p}. It stopped working within a week, I want a refund.",
        "Very disappointed with the {p}, cheap plastic and it arrived scratched.",
        "Do not buy this {p}. It overheats and the seller ignores complaints."]
_NEU = ["The {p} is okay. Does what it says, nothing special.",
        "Average {p}; some things are good, some are annoying.",
        "The {p} arrived on time. Have not used it much yet."]
_SENT_SYS = ["You are a sentiment classifier. Answer with one word: positive, negative or neutral.",
             "Classify the sentiment of the customer review as positive, negative, or neutral. Reply with the label only.",
             "Return the sentiment (positive/negative/neutral) of the following product review."]

_VENDORS = ["Northwind Traders", "Contoso Ltd", "Globex Supplies", "Initech GmbH", "Umbrella Logistics", "Acme Office Co"]
_INV_SYS = ["Extract the invoice fields as JSON with keys vendor, invoice_number, date, total, currency.",
            "You extract structured data from invoices. Output JSON: {vendor, invoice_number, date, total, currency}.",
            "Parse this invoice and return a JSON object with vendor, invoice number, issue date, total amount and currency."]

_TEAMS = {"billing": ["I was charged twice for my subscription this month, please refund the duplicate.",
                      "My invoice shows the wrong VAT number, can you reissue it?",
                      "Why did my plan price go up without notice?"],
          "technical": ["The app crashes every time I open the reports tab on Android.",
                        "I cannot log in since the last update, it says token expired.",
                        "The API returns 502 errors for bulk uploads over 10MB."],
          "shipping": ["My order has been stuck in transit for nine days, where is it?",
                       "The courier left my parcel at the wrong address.",
                       "Can I change the delivery address for an order that already shipped?"],
          "account": ["Please delete my account and all associated data.",
                      "How do I add a second admin to our team workspace?",
                      "I need to change the email on my account, the old one is closed."]}
_TICKET_SYS = ["Route the support ticket to one team: billing, technical, shipping or account. Answer with the team name.",
               "You are a helpdesk router. Which queue should handle this ticket (billing/technical/shipping/account)?",
               "Assign the following customer ticket to the correct support team. Output only the team."]

_SCHEMAS = ["orders(id, customer_id, total, created_at), customers(id, name, country)",
            "employees(id, name, department_id, salary, hired_on), departments(id, name)",
            "products(id, name, category, price), sales(id, product_id, quantity, sold_at)"]
_QUESTIONS = [("How many orders were placed in March 2024?", "SELECT COUNT(*) FROM orders WHERE created_at >= '2024-03-01' AND created_at < '2024-04-01';"),
              ("List the top 5 customers by total spend.", "SELECT c.name, SUM(o.total) AS spend FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY spend DESC LIMIT 5;"),
              ("What is the average salary per department?", "SELECT d.name, AVG(e.salary) FROM employees e JOIN departments d ON d.id = e.department_id GROUP BY d.name;"),
              ("Which employees were hired after 2022?", "SELECT name FROM employees WHERE hired_on > '2022-12-31';"),
              ("Total quantity sold per product category last month.", "SELECT p.category, SUM(s.quantity) FROM sales s JOIN products p ON p.id = s.product_id WHERE s.sold_at >= date('now','start of month','-1 month') AND s.sold_at < date('now','start of month') GROUP BY p.category;"),
              ("Find products priced above the average price.", "SELECT name FROM products WHERE price > (SELECT AVG(price) FROM products);"),
              ("How many customers are from Germany?", "SELECT COUNT(*) FROM customers WHERE country = 'Germany';")]
_SQL_SYS = ["You translate questions into SQLite SQL. Schema: {s}. Return only the SQL query.",
            "Write a SQL query for the question below. Tables: {s}. No explanation.",
            "Given the database schema {s}, generate the SQL that answers the user's question."]

_SUM_TOPICS = [
    ("Quarterly planning meeting", "The team reviewed Q3 results: revenue grew 12% while churn fell to 3.1%. Marketing will shift budget from paid search to partnerships. Engineering committed to shipping the new onboarding flow by October 15. Open risks include hiring two backend engineers and the pending SOC 2 audit. Next review is scheduled for the first week of November."),
    ("Incident postmortem", "On Tuesday the payment service returned errors for 42 minutes after a configuration change disabled connection pooling. About 3,800 checkouts failed. The on-call engineer rolled back the change and added an alert on pool saturation. Action items: add a canary stage to config deploys, document the pooling settings, and run a game day next month."),
    ("Customer research interviews", "Eight interviews with operations managers showed that the biggest pain point is reconciling shipments across carriers. Several participants export data to spreadsheets weekly. Most would pay for automatic exception alerts. Two mentioned that our mobile app is too slow on warehouse Wi-Fi. Recommendation: prioritise carrier reconciliation and offline mode."),
    ("Board update draft", "Headcount reached 64. Cash runway is 26 months after the Series B close. Enterprise pipeline doubled quarter over quarter, driven by the healthcare vertical. Gross margin improved to 71% thanks to inference cost reductions. Key asks for the board: introductions to hospital procurement leads and feedback on the pricing change."),
]
_SUM_SYS = ["Summarize the following text in three bullet points.",
            "You are an assistant that writes concise executive summaries. Summarize in under 60 words.",
            "Provide a short summary of the document for a busy manager."]


def _pii_sentence(rng: random.Random) -> str:
    kind = rng.choice(["email", "phone", "card"])
    if kind == "email":
        return f" You can reach me at {rng.choice(PII_EMAILS)}."
    if kind == "phone":
        return f" Call me back on {rng.choice(PII_PHONES)}."
    return f" The card I used was {rng.choice(PII_CARDS)}."


def _call(rng: random.Random, task: str) -> tuple[list[dict[str, str]], str, int]:
    """Return (messages, assistant answer, extra prompt tokens) for one call of `task`."""
    if task == "sentiment":
        pool = rng.choice([_POS, _POS, _NEG, _NEU])
        label = {id(_POS): "positive", id(_NEG): "negative", id(_NEU): "neutral"}[id(pool)]
        review = rng.choice(pool).format(p=rng.choice(_PRODUCTS))
        if rng.random() < 0.15:
            review += _pii_sentence(rng)
        return ([{"role": "system", "content": rng.choice(_SENT_SYS)}, {"role": "user", "content": review}], label, 0)
    if task == "invoice_extraction":
        vendor = rng.choice(_VENDORS)
        number = f"INV-{rng.randint(2023, 2025)}-{rng.randint(100, 9999):04d}"
        day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        total = round(rng.uniform(80, 25000), 2)
        cur = rng.choice(["USD", "EUR", "GBP"])
        lines = "\n".join(f"{rng.randint(1, 20)} x {rng.choice(_PRODUCTS)} @ {rng.uniform(5, 900):.2f}" for _ in range(rng.randint(2, 6)))
        text = (f"INVOICE {number}\nFrom: {vendor}\nDate: {day}\nBill to: Contact {rng.choice(PII_EMAILS)}\n"
                f"{lines}\nTOTAL DUE: {total:.2f} {cur}\nPayment terms: net 30.")
        answer = json.dumps({"vendor": vendor, "invoice_number": number, "date": day, "total": total, "currency": cur})
        return ([{"role": "system", "content": rng.choice(_INV_SYS)}, {"role": "user", "content": text}], answer, 40)
    if task == "ticket_routing":
        team = rng.choice(list(_TEAMS))
        body = rng.choice(_TEAMS[team])
        if rng.random() < 0.35:
            body += _pii_sentence(rng)
        return ([{"role": "system", "content": rng.choice(_TICKET_SYS)}, {"role": "user", "content": body}], team, 0)
    if task == "sql_generation":
        schema = rng.choice(_SCHEMAS)
        question, sql = rng.choice(_QUESTIONS)
        return ([{"role": "system", "content": rng.choice(_SQL_SYS).format(s=schema)}, {"role": "user", "content": question}], sql, 20)
    title, text = rng.choice(_SUM_TOPICS)
    answer = "- " + text.split(". ")[0] + ".\n- " + text.split(". ")[1] + ".\n- Next steps are listed in the notes."
    return ([{"role": "system", "content": rng.choice(_SUM_SYS)}, {"role": "user", "content": f"{title}\n\n{text}"}], answer, 300)


# (share of calls, model, $ per 1K prompt tokens, $ per 1K completion tokens, base latency ms, ms per output token)
_TASK_PROFILE: dict[str, tuple[int, str, float, float, int, float]] = {
    "sentiment": (70, "gpt-4-turbo", 0.01, 0.03, 420, 18.0),
    "ticket_routing": (50, "gpt-4-turbo", 0.01, 0.03, 450, 18.0),
    "invoice_extraction": (40, "gpt-4o", 0.005, 0.015, 650, 14.0),
    "sql_generation": (25, "gpt-4o", 0.005, 0.015, 700, 15.0),
    "summarization": (15, "gpt-4-turbo", 0.01, 0.03, 900, 22.0),
}


def _approx_tokens(text: str) -> int:
    return max(1, round(len(text) / 4))


def llm_call_log(seed: int = 7) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The sample LLM call log and its ground truth: call id -> task type."""
    rng = random.Random(seed)
    tasks = [t for t, prof in _TASK_PROFILE.items() for _ in range(prof[0])]
    rng.shuffle(tasks)
    records, labels = [], {}
    t0 = 1_730_000_000
    for i, task in enumerate(tasks):
        messages, answer, extra = _call(rng, task)
        _, model, p_in, p_out, base_ms, per_tok = _TASK_PROFILE[task]
        prompt_tokens = sum(_approx_tokens(m["content"]) + 4 for m in messages) + extra
        completion_tokens = _approx_tokens(answer) + (0 if task in ("sentiment", "ticket_routing") else rng.randint(0, 30))
        latency = int(base_ms + per_tok * completion_tokens + rng.gauss(0, base_ms * 0.15))
        cost = round(prompt_tokens / 1000 * p_in + completion_tokens / 1000 * p_out, 6)
        call_id = f"call-{i + 1:04d}"
        labels[call_id] = task
        records.append({
            "id": call_id,
            "timestamp": t0 + i * 37,
            "latency_ms": max(latency, 120),
            "cost_usd": cost,
            "request": {"model": model, "messages": messages, "temperature": 0},
            "response": {
                "id": f"chatcmpl-{rng.getrandbits(48):012x}",
                "object": "chat.completion",
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            },
        })
    return records, labels


# ---------------------------------------------------------------------------------------
# Inbox for email_triage: (sender, subject, body, expected category)

INBOX: list[tuple[str, str, str, str]] = [
    ("anna.keller@example.com", "Where is my order #A10234?", "Hi, I ordered a standing desk last week (order #A10234) and the tracking has not updated in five days. Can you tell me when it will arrive? Thanks, Anna", "order_status"),
    ("winner-notice@prize-claims.biz", "CONGRATULATIONS!!! You WON $1,000,000", "Dear lucky winner, you have been selected to receive ONE MILLION DOLLARS. Click here now and send your bank details to claim your prize before it expires!!!", "spam"),
    ("ben.okafor@example.org", "Refund for damaged blender", "My blender from order #A10871 arrived with a cracked jar. I would like a full refund please. Photos attached.", "refund"),
    ("cheap-meds@pharma-deals.ru", "V1agra 90% off, no prescription", "Buy cheap pills online, no prescription needed, discreet shipping worldwide. Limited offer, click the link!!!", "spam"),
    ("sofia.rossi@example.it", "Order A10502 delivered to wrong address", "The courier says order #A10502 was delivered but it is not at my address. Please help me find it, it was a birthday gift.", "order_status"),
    ("dev.patel@example.com", "Cannot log in to my account", "Since yesterday I cannot log in, the password reset email never arrives. My username is devp. Can you help?", "account"),
    ("security-alert@paypa1-verify.com", "Your account has been suspended", "We detected unusual activity. Verify your identity within 24 hours by entering your password and card number at the link below or your account will be closed.", "spam"),
    ("lucas.martin@example.fr", "Question about warranty", "Does the espresso machine come with a two year warranty? I am thinking about buying one for our office.", "product_question"),
    ("emma.wilson@example.co.uk", "Charged twice for order #A10999", "I was charged twice for order #A10999, two payments of 89.00 GBP on my card statement. Please refund the duplicate charge.", "refund"),
    ("crypto-profits@moonshot-invest.io", "Double your Bitcoin in 7 days", "Guaranteed returns! Send 0.1 BTC and receive 0.2 BTC back within 7 days. Thousands of happy investors. Act now, offer ends tonight!!!", "spam"),
    ("noah.schmidt@example.de", "Change delivery address for #A11020", "Could you change the delivery address for order #A11020 to Hauptstrasse 5, Berlin? It has not shipped yet I think.", "order_status"),
    ("olivia.brown@example.com", "Size of hiking boots", "Do the hiking boots run small? I normally wear 42 in running shoes. Which size should I order?", "product_question"),
    ("liam.nguyen@example.com", "Return label for order A10311", "I want to return the office chair from order #A10311, it is too big for my desk. How do I get a return label?", "refund"),
    ("hot-singles@date-now.xyz", "Hot singles in your area", "Meet beautiful singles near you tonight! Click now, free registration, no credit card required!!!", "spam"),
    ("ava.johnson@example.com", "Update my email address", "Please change the email on my account to ava.j@example.net, the old address will be closed next month.", "account"),
    ("mia.garcia@example.es", "Is the air purifier quiet?", "How loud is the air purifier on the night setting? I want to use it in a bedroom.", "product_question"),
    ("ethan.clark@example.com", "Order #A11145 missing an item", "My order #A11145 arrived but the yoga mat was missing from the box. Only the water bottle was inside.", "order_status"),
    ("invoice-dept@secure-docs-share.top", "Unpaid invoice attached - urgent", "Your invoice is overdue. Open the attached file invoice.zip and enable macros to view the payment details immediately.", "spam"),
    ("isabella.lee@example.com", "Cancel order A11200", "Please cancel order #A11200, I ordered the wrong color. It was placed an hour ago.", "order_status"),
    ("james.taylor@example.com", "Great service!", "Just wanted to say thanks, the mechanical keyboard is fantastic and your support team was super helpful.", "feedback"),
    ("loan-approval@fast-cash-now.info", "Pre-approved loan of $50,000", "You are pre-approved for a $50,000 loan with no credit check! Reply with your social security number to receive the money today!!!", "spam"),
    ("charlotte.moore@example.com", "Delete my account", "I would like my account and all my personal data deleted under GDPR. Please confirm when done.", "account"),
    ("henry.white@example.com", "Refund not received for #A10650", "I returned the smart watch from order #A10650 three weeks ago and still have not received my refund. What is going on?", "refund"),
    ("amelia.harris@example.com", "Does the kettle have auto shut-off?", "Does the electric kettle switch off automatically when the water boils? Is the inside stainless steel?", "product_question"),
    ("seo-boost@rank-first-google.biz", "Get #1 on Google guaranteed", "We guarantee first page Google rankings in 48 hours. Cheap SEO packages, unlimited backlinks, click here to order now!!!", "spam"),
    ("jack.thompson@example.com", "Late delivery of order #A11302", "Order #A11302 was supposed to arrive on Monday. It is Thursday now. I need the monitor for work, please expedite.", "order_status"),
    ("grace.martinez@example.com", "Two-factor authentication problem", "I lost my phone and cannot get the two-factor code to log in. How can I recover access to my account?", "account"),
    ("oscar.robinson@example.com", "Feedback on the checkout", "The new checkout page is much faster, nice work. One suggestion: let me save more than one address.", "feedback"),
    ("gift-card-rewards@amaz0n-rewards.club", "Claim your $500 gift card", "You have been chosen for a $500 gift card reward. Complete a short survey and enter your card details to pay the $1 shipping fee!!!", "spam"),
    ("zoe.walker@example.com", "Wrong item in order #A11388", "I ordered black running shoes in size 39 (order #A11388) but received white ones in size 41. Can you exchange them?", "refund"),
]

EMAIL_CATEGORIES = ["spam", "order_status", "refund", "account", "product_question", "feedback"]

# ---------------------------------------------------------------------------------------
# Patients for medical_triage: (patient id, age, notes, expected severity)

PATIENTS: list[tuple[str, int, str, str]] = [
    ("P-001", 58, "Crushing chest pain radiating to the left arm for 30 minutes, sweating and short of breath. History of hypertension.", "emergency"),
    ("P-002", 24, "Runny nose, mild sore throat and sneezing for two days. No fever. Eating and sleeping normally.", "low"),
    ("P-003", 67, "Sudden weakness on the right side of the body, slurred speech and facial droop that started 40 minutes ago.", "emergency"),
    ("P-004", 35, "Fever of 38.9 C for three days with productive cough and aching muscles. Some shortness of breath on stairs.", "urgent"),
    ("P-005", 41, "Lower back pain after lifting boxes yesterday. Can walk. No numbness, no bladder problems.", "low"),
    ("P-006", 8, "Child with high fever of 40 C, stiff neck, headache and a rash that does not fade under pressure.", "emergency"),
    ("P-007", 29, "Itchy red rash on both forearms after gardening. No swelling of face or lips, breathing normally.", "low"),
    ("P-008", 52, "Severe abdominal pain in the lower right side for 12 hours, vomiting twice, pain worse when moving.", "urgent"),
    ("P-009", 73, "Fell at home, hip pain and cannot bear weight on the left leg. Alert and oriented.", "urgent"),
    ("P-010", 19, "Mild headache after a long day at the computer. Relieved partly by rest. No vision changes.", "low"),
]

# ---------------------------------------------------------------------------------------
# Loan applications for loan_documents: (application id, applicant, document text, amount)

LOANS: list[tuple[str, str, str, float]] = [
    ("L-1001", "Maria Jensen", "LOAN APPLICATION\nApplicant: Maria Jensen\nEmployment: Senior nurse at St. Mary Hospital, 9 years\nAnnual income: $84,000\nRequested amount: $25,000\nTerm: 60 months\nPurpose: home renovation\nExisting monthly debt payments: $650\nCredit score: 742\nCountry of residence: United States\nIdentity verified: yes", 25000.0),
    ("L-1002", "Derek Olsen", "LOAN APPLICATION\nApplicant: Derek Olsen\nEmployment: self-employed, 1 year\nAnnual income: $31,000\nRequested amount: $95,000\nTerm: 36 months\nPurpose: business expansion\nExisting monthly debt payments: $1,900\nCredit score: 588\nCountry of residence: United States\nIdentity verified: no", 95000.0),
    ("L-1003", "Aisha Rahman", "LOAN APPLICATION\nApplicant: Aisha Rahman\nEmployment: Software engineer at Lumen Labs, 4 years\nAnnual income: $132,000\nRequested amount: $40,000\nTerm: 48 months\nPurpose: car purchase\nExisting monthly debt payments: $400\nCredit score: 781\nCountry of residence: United States\nIdentity verified: yes", 40000.0),
    ("L-1004", "Tomas Novak", "LOAN APPLICATION\nApplicant: Tomas Novak\nEmployment: Warehouse supervisor, 6 years\nAnnual income: $52,500\nRequested amount: $12,500\nTerm: 24 months\nPurpose: debt consolidation\nExisting monthly debt payments: $980\nCredit score: 664\nCountry of residence: United States\nIdentity verified: yes", 12500.0),
    ("L-1005", "Grace Kim", "LOAN APPLICATION\nApplicant: Grace Kim\nEmployment: unemployed\nAnnual income: $0\nRequested amount: $30,000\nTerm: 72 months\nPurpose: travel\nExisting monthly debt payments: $300\nCredit score: 615\nCountry of residence: United States\nIdentity verified: yes", 30000.0),
    ("L-1006", "Samuel Osei", "LOAN APPLICATION\nApplicant: Samuel Osei\nEmployment: Teacher at Lincoln High School, 12 years\nAnnual income: $61,000\nRequested amount: $8,000\nTerm: 24 months\nPurpose: medical bills\nExisting monthly debt payments: $250\nCredit score: 703\nCountry of residence: United States\nIdentity verified: yes", 8000.0),
]

# ---------------------------------------------------------------------------------------
# Shoppers and catalogue for ecommerce.

CATALOGUE: list[tuple[str, str, str, float, str]] = [
    ("SKU-101", "Trail Running Shoes", "sports", 129.0, "Lightweight trail running shoes with grippy soles for muddy and rocky paths."),
    ("SKU-102", "Road Running Shoes", "sports", 119.0, "Cushioned road running shoes for daily training and marathons."),
    ("SKU-103", "GPS Sports Watch", "sports", 249.0, "Running watch with GPS, heart-rate monitor and training plans."),
    ("SKU-104", "Yoga Mat Pro", "sports", 59.0, "Non-slip thick yoga mat for yoga, pilates and stretching."),
    ("SKU-105", "Adjustable Dumbbells", "sports", 199.0, "Space-saving adjustable dumbbells for strength training at home."),
    ("SKU-106", "Hydration Running Vest", "sports", 79.0, "Running vest with two soft flasks for long trail runs."),
    ("SKU-107", "Foam Roller", "sports", 29.0, "Foam roller for muscle recovery after running and workouts."),
    ("SKU-108", "Cycling Helmet", "sports", 89.0, "Ventilated road cycling helmet with MIPS protection."),
    ("SKU-201", "Espresso Machine", "kitchen", 349.0, "Semi-automatic espresso machine with milk frother for cafe-style coffee."),
    ("SKU-202", "Burr Coffee Grinder", "kitchen", 129.0, "Conical burr grinder with 40 settings for espresso to French press."),
    ("SKU-203", "Pour-Over Coffee Kit", "kitchen", 49.0, "Glass pour-over coffee dripper with paper filters and kettle."),
    ("SKU-204", "Chef's Knife", "kitchen", 99.0, "Forged 8-inch chef's knife of high-carbon stainless steel."),
    ("SKU-205", "Cast Iron Skillet", "kitchen", 45.0, "Pre-seasoned cast iron skillet for searing, baking and frying."),
    ("SKU-206", "High-Speed Blender", "kitchen", 179.0, "Powerful blender for smoothies, soups and nut butters."),
    ("SKU-207", "Electric Gooseneck Kettle", "kitchen", 69.0, "Temperature-controlled gooseneck kettle for pour-over coffee and tea."),
    ("SKU-208", "Loose Leaf Tea Sampler", "kitchen", 25.0, "Sampler of green, black and oolong loose leaf teas."),
    ("SKU-301", "Mechanical Keyboard", "electronics", 139.0, "Hot-swappable mechanical keyboard with tactile switches for programmers."),
    ("SKU-302", "27-inch 4K Monitor", "electronics", 399.0, "27-inch 4K IPS monitor with USB-C for laptops and coding."),
    ("SKU-303", "Noise-Cancelling Headphones", "electronics", 299.0, "Wireless over-ear headphones with active noise cancellation for focus."),
    ("SKU-304", "Wireless Earbuds", "electronics", 149.0, "True wireless earbuds, sweat resistant, for workouts and commutes."),
    ("SKU-305", "Ergonomic Mouse", "electronics", 79.0, "Vertical ergonomic mouse that reduces wrist strain."),
    ("SKU-306", "USB-C Docking Station", "electronics", 189.0, "Docking station with dual display, ethernet and charging for laptops."),
    ("SKU-307", "Webcam 1080p", "electronics", 69.0, "Full HD webcam with stereo microphones for video calls."),
    ("SKU-308", "E-Reader", "electronics", 139.0, "Glare-free e-ink reader with adjustable warm light for books."),
    ("SKU-401", "Standing Desk", "home office", 499.0, "Electric height-adjustable standing desk with memory presets."),
    ("SKU-402", "Ergonomic Office Chair", "home office", 429.0, "Office chair with lumbar support and adjustable armrests."),
    ("SKU-403", "Desk Lamp", "home office", 59.0, "LED desk lamp with dimmer and colour temperature control."),
    ("SKU-404", "Monitor Arm", "home office", 99.0, "Gas spring monitor arm for screens up to 32 inches."),
    ("SKU-405", "Cable Management Kit", "home office", 25.0, "Cable trays and clips to tidy the cables under a desk."),
    ("SKU-501", "Hiking Backpack 40L", "outdoors", 149.0, "40-litre hiking backpack with rain cover and hip belt."),
    ("SKU-502", "Waterproof Hiking Boots", "outdoors", 179.0, "Waterproof leather hiking boots with ankle support."),
    ("SKU-503", "Camping Tent 2P", "outdoors", 229.0, "Lightweight two-person tent for backpacking trips."),
    ("SKU-504", "Sleeping Bag", "outdoors", 119.0, "Three-season down sleeping bag rated to -5 C."),
    ("SKU-505", "Headlamp", "outdoors", 39.0, "Rechargeable LED headlamp for camping and night running."),
    ("SKU-506", "Trekking Poles", "outdoors", 69.0, "Collapsible carbon trekking poles for hiking."),
    ("SKU-601", "Children's Picture Book Set", "books & toys", 35.0, "Set of illustrated picture books for toddlers."),
    ("SKU-602", "Wooden Building Blocks", "books & toys", 45.0, "Wooden building blocks for creative play, ages 2 and up."),
    ("SKU-603", "Board Game: Strategy Classic", "books & toys", 55.0, "Strategy board game for families and game nights."),
    ("SKU-604", "Science Experiment Kit", "books & toys", 39.0, "Hands-on science kit with 30 experiments for kids aged 8-12."),
    ("SKU-605", "Jigsaw Puzzle 1000 pieces", "books & toys", 22.0, "1000-piece jigsaw puzzle of a mountain landscape."),
]

# (user id, recent behaviour events, expected category)
SHOPPERS: list[tuple[str, list[str], str]] = [
    ("U-01", ["viewed Road Running Shoes", "searched 'marathon training plan'", "bought energy gels", "viewed GPS watches for runners", "read review of trail shoes"], "sports"),
    ("U-02", ["bought a French press", "searched 'best coffee beans for espresso'", "viewed milk frothers", "added coffee scale to wishlist"], "kitchen"),
    ("U-03", ["viewed mechanical keyboards", "searched 'monitor for programming'", "bought a laptop stand", "read review of noise cancelling headphones"], "electronics"),
    ("U-04", ["searched 'lightweight tent'", "viewed hiking backpacks", "bought trail map of the Alps", "added headlamp to cart"], "outdoors"),
    ("U-05", ["searched 'gifts for 4 year old'", "viewed wooden toys", "bought a colouring book", "viewed puzzles for kids"], "books & toys"),
    ("U-06", ["searched 'back pain working from home'", "viewed ergonomic chairs", "viewed standing desks", "bought a footrest"], "home office"),
]

ROUTER_REQUESTS: list[tuple[str, str]] = [
    ("Classify the sentiment of this review: the blender is loud but makes great smoothies.", "classify"),
    ("What is the weather in Paris tomorrow?", "tool"),
    ("Write a short thank-you note to a colleague who helped me move desks.", "generate"),
    ("Is this email spam? 'You won a free cruise, click here now!'", "classify"),
    ("Convert 250 US dollars to euros.", "tool"),
    ("Draft a two-sentence product description for a bamboo cutting board.", "generate"),
    ("Look up the status of order A10234.", "tool"),
    ("Categorise this ticket: 'my invoice shows the wrong VAT number'.", "classify"),
]


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def render() -> dict[str, str]:
    """File name -> content of every sample file."""
    log, labels = llm_call_log()
    return {
        "llm_calls.jsonl": _jsonl(log),
        "llm_calls.labels.json": json.dumps(labels, indent=1) + "\n",
        "email_triage.jsonl": _jsonl([{"sender": s, "subject": sub, "body": b} for s, sub, b, _ in INBOX]),
        "medical_triage.jsonl": _jsonl([{"patient_id": p, "age": a, "notes": n} for p, a, n, _ in PATIENTS]),
        "loan_documents.jsonl": _jsonl([{"application_id": i, "document": d} for i, _, d, _ in LOANS]),
        "ecommerce.jsonl": _jsonl([{"user_id": u, "events": ev} for u, ev, _ in SHOPPERS]),
        "catalogue.json": json.dumps([{"sku": s, "name": n, "category": c, "price": p, "description": d}
                                      for s, n, c, p, d in CATALOGUE], indent=1) + "\n",
        "router.jsonl": _jsonl([{"request": r} for r, _ in ROUTER_REQUESTS]),
    }


def write(directory: Path = DATA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in render().items():
        path = directory / name
        path.write_text(content, encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    write()
