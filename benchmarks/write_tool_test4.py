"""Hand-written held-out test set (test4) for the 4-way tool-choice task.

    .venv/bin/python benchmarks/write_tool_test4.py   # -> workflows/data/tool_choice.test4.jsonl

100 requests, 25 per tool, each written by hand (no templates), on 2026-12-01 by a helper who
saw only the four tools' definitions: no project file, no training data, no model output. It
was committed before any model was scored on it. Its rows were not read while choosing
anything; wrong answers on it are written to a file, not to the log.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tool_rows import A, C, R, S, write_rows

ROWS = [
    # ---- get_order_status ----
    ("Where is my order ZK10482? It's been a week.", S, {"order_id": "ZK10482"}),
    ("hi, any update on ZK23917?", S, {"order_id": "ZK23917"}),
    ("Could you please tell me when order ZK30155 will arrive?", S, {"order_id": "ZK30155"}),
    ("ZK41206 - has this shipped yet?", S, {"order_id": "ZK41206"}),
    ("I ordered a lamp last Tuesday (ZK52871) and haven't heard anything since. Can you check on it for me?", S, {"order_id": "ZK52871"}),
    ("Good afternoon, I would like to know the current progress of my order, reference ZK60394.", S, {"order_id": "ZK60394"}),
    ("tracking for ZK71528 pls", S, {"order_id": "ZK71528"}),
    ("Is ZK82063 out for delivery today? I need to know if I should stay home.", S, {"order_id": "ZK82063"}),
    ("My parcel ZK93740 still says processing. What's going on with it?", S, {"order_id": "ZK93740"}),
    ("Hey! Just wondering where my package is, the order number is ZK14659.", S, {"order_id": "ZK14659"}),
    ("Can you check whether order ZK25380 has left the warehouse?", S, {"order_id": "ZK25380"}),
    ("Dear support team, could you kindly confirm whether my order ZK36917 has been dispatched and provide an estimated delivery date?", S, {"order_id": "ZK36917"}),
    ("When's ZK47102 gonna get here??", S, {"order_id": "ZK47102"}),
    ("The tracking link in my email doesn't work. Can you tell me where ZK58246 is right now?", S, {"order_id": "ZK58246"}),
    ("Has my order ZK69433 been shipped or is it still being packed?", S, {"order_id": "ZK69433"}),
    ("It's my daughter's birthday on Saturday and the present is order ZK70518. Will it make it in time?", S, {"order_id": "ZK70518"}),
    ("Where's my stuff? ZK81795", S, {"order_id": "ZK81795"}),
    ("I'd like an update on the whereabouts of ZK92361, please.", S, {"order_id": "ZK92361"}),
    ("Order ZK13084: what's the ETA?", S, {"order_id": "ZK13084"}),
    ("Still waiting on ZK24570. Any idea how far away it is?", S, {"order_id": "ZK24570"}),
    ("Could someone look up order ZK35629 and let me know its current status?", S, {"order_id": "ZK35629"}),
    ("ok so I placed ZK46813 three days ago, did it go out yet or not", S, {"order_id": "ZK46813"}),
    ("Has the courier picked up ZK57390?", S, {"order_id": "ZK57390"}),
    ("Just checking in on ZK68174 - is it on its way?", S, {"order_id": "ZK68174"}),
    ("Please let me know at what stage order ZK79052 is.", S, {"order_id": "ZK79052"}),
    # ---- cancel_order ----
    ("Please cancel order ZK11347.", C, {"order_id": "ZK11347"}),
    ("I changed my mind about ZK22586, I don't want it anymore. Can you stop it before it ships?", C, {"order_id": "ZK22586"}),
    ("I picked the wrong size when ordering ZK33819. Please call off the order before it goes out and I'll reorder.", C, {"order_id": "ZK33819"}),
    ("ZK44072 - cancel pls", C, {"order_id": "ZK44072"}),
    ("I no longer need the items in order ZK55936. Please make sure it doesn't get sent.", C, {"order_id": "ZK55936"}),
    ("Hi, I accidentally placed the same order twice. Could you kill the duplicate, ZK66201?", C, {"order_id": "ZK66201"}),
    ("Found it cheaper elsewhere, so please call off ZK77458.", C, {"order_id": "ZK77458"}),
    ("Dear Sir or Madam, I wish to withdraw my order ZK88613 before it is dispatched.", C, {"order_id": "ZK88613"}),
    ("Can I still cancel ZK99724? It hasn't shipped yet according to my account.", C, {"order_id": "ZK99724"}),
    ("Don't send ZK10863. I don't want it.", C, {"order_id": "ZK10863"}),
    ("My husband already bought the same thing, so we won't need ZK21990 after all. Can you stop it?", C, {"order_id": "ZK21990"}),
    ("Is it too late to back out of order ZK32145? If not, please void it.", C, {"order_id": "ZK32145"}),
    ("Please stop order ZK43278 from going out, I ordered it by accident.", C, {"order_id": "ZK43278"}),
    ("I want to cancel my purchase ZK54309 please, it hasn't been dispatched.", C, {"order_id": "ZK54309"}),
    ("ugh, ordered this at 2am and regret it. ZK65482, can you undo it?", C, {"order_id": "ZK65482"}),
    ("The party I bought these decorations for has been called off, so please cancel ZK76517 too.", C, {"order_id": "ZK76517"}),
    ("Kindly terminate order ZK87640. I no longer require the goods.", C, {"order_id": "ZK87640"}),
    ("Order ZK98853 was a mistake, please don't process it.", C, {"order_id": "ZK98853"}),
    ("I'd like to call off my order (ZK19076) before it ships, thanks.", C, {"order_id": "ZK19076"}),
    ("Hey, can you just nix ZK20418? Don't need it anymore.", C, {"order_id": "ZK20418"}),
    ("Please abort ZK31562, I managed to get the item in a shop near me instead.", C, {"order_id": "ZK31562"}),
    ("I haven't received a shipping email yet for ZK42795, so hopefully it's not too late to cancel it. Please do.", C, {"order_id": "ZK42795"}),
    ("Please remove order ZK53927 from your system, I don't want to go ahead with it.", C, {"order_id": "ZK53927"}),
    ("I've decided against purchase ZK64150. Please stop it before it's sent out.", C, {"order_id": "ZK64150"}),
    ("Cancel ZK75381 please, I need to redo the order with a different payment method.", C, {"order_id": "ZK75381"}),
    # ---- change_address ----
    ("I've moved to Manchester, can you send ZK12608 there instead?", A, {"order_id": "ZK12608", "city": "Manchester"}),
    ("Please update the delivery address on ZK23741 - I'll be in Berlin.", A, {"order_id": "ZK23741", "city": "Berlin"}),
    ("ZK34885: ship to Toronto instead please.", A, {"order_id": "ZK34885", "city": "Toronto"}),
    ("Hi! I'm staying with my parents in San Francisco for the holidays, could order ZK45019 go to their place instead?", A, {"order_id": "ZK45019", "city": "San Francisco"}),
    ("I need order ZK56132 delivered to New York, not my old address.", A, {"order_id": "ZK56132", "city": "New York"}),
    ("Can you redirect ZK67264 to Lyon? I'm there for work the whole month.", A, {"order_id": "ZK67264", "city": "Lyon"}),
    ("Dear team, due to a recent relocation, I would be grateful if you could amend the shipping destination for order ZK78396 to Melbourne.", A, {"order_id": "ZK78396", "city": "Melbourne"}),
    ("wrong city on ZK89427, it should be Dublin", A, {"order_id": "ZK89427", "city": "Dublin"}),
    ("Could ZK90551 be delivered to my office in Rio de Janeiro rather than my home?", A, {"order_id": "ZK90551", "city": "Rio de Janeiro"}),
    ("I typed the wrong address when ordering ZK16684. It should go to Madrid.", A, {"order_id": "ZK16684", "city": "Madrid"}),
    ("Please send order ZK27715 to Cape Town instead of where I originally put.", A, {"order_id": "ZK27715", "city": "Cape Town"}),
    ("Change the shipping on ZK38840 to Amsterdam, thanks.", A, {"order_id": "ZK38840", "city": "Amsterdam"}),
    ("We're moving house next week! Can ZK49973 be sent to our new place in Buenos Aires?", A, {"order_id": "ZK49973", "city": "Buenos Aires"}),
    ("Is it possible to reroute ZK50106 to Vienna?", A, {"order_id": "ZK50106", "city": "Vienna"}),
    ("Order ZK61239 - please deliver to Salt Lake City, I'm no longer at the old address.", A, {"order_id": "ZK61239", "city": "Salt Lake City"}),
    ("Could you please change where ZK72362 is going? The new destination is Hong Kong.", A, {"order_id": "ZK72362", "city": "Hong Kong"}),
    ("My sister will receive it for me, so please have ZK83495 delivered to her in Edinburgh.", A, {"order_id": "ZK83495", "city": "Edinburgh"}),
    ("hey can u ship ZK94528 to Oslo instead", A, {"order_id": "ZK94528", "city": "Oslo"}),
    ("For order ZK15651 I need a new delivery location: Kuala Lumpur.", A, {"order_id": "ZK15651", "city": "Kuala Lumpur"}),
    ("I'll be away from home, so I'd like ZK26784 to be delivered to my holiday flat in Milan.", A, {"order_id": "ZK26784", "city": "Milan"}),
    ("Please update my order ZK37817 so it ships to Seattle instead of Portland.", A, {"order_id": "ZK37817", "city": "Seattle"}),
    ("The address on ZK48940 is outdated. Send it to Los Angeles please.", A, {"order_id": "ZK48940", "city": "Los Angeles"}),
    ("Hello, I relocated to Mexico City last month. Could you update the delivery address for ZK59073 accordingly?", A, {"order_id": "ZK59073", "city": "Mexico City"}),
    ("Can my package ZK60286 go to Tel Aviv instead? I'm travelling.", A, {"order_id": "ZK60286", "city": "Tel Aviv"}),
    ("Kindly forward order ZK71319 to London, as I will not be at the original address.", A, {"order_id": "ZK71319", "city": "London"}),
    # ---- refund_order ----
    ("ZK13452 arrived with the screen cracked. I want my money back.", R, {"order_id": "ZK13452", "reason": "damaged"}),
    ("The vase from order ZK24587 came smashed to pieces. Please refund me.", R, {"order_id": "ZK24587", "reason": "damaged"}),
    ("Box for ZK35618 was crushed and the mug inside is chipped. I'd like a refund.", R, {"order_id": "ZK35618", "reason": "damaged"}),
    ("Hello, unfortunately the jacket in order ZK46749 has a big tear in the sleeve. Could I get reimbursed?", R, {"order_id": "ZK46749", "reason": "damaged"}),
    ("my headphones (ZK57872) don't even turn on, they were broken right out of the box. refund please", R, {"order_id": "ZK57872", "reason": "damaged"}),
    ("Order ZK68905 was delivered soaking wet and the books are ruined. I expect a full refund.", R, {"order_id": "ZK68905", "reason": "damaged"}),
    ("I am writing to request a refund for order ZK79036, as the item arrived dented and scratched.", R, {"order_id": "ZK79036", "reason": "damaged"}),
    ("ZK80167 showed up two weeks after the promised date. I'd like my money back for that.", R, {"order_id": "ZK80167", "reason": "late"}),
    ("My order ZK91298 arrived after the wedding it was meant for. Completely useless now, please refund.", R, {"order_id": "ZK91298", "reason": "late"}),
    ("I paid for express shipping on ZK17321 and it took 10 days to get here. I want a refund.", R, {"order_id": "ZK17321", "reason": "late"}),
    ("The delivery of ZK28454 was way overdue, I want to be reimbursed.", R, {"order_id": "ZK28454", "reason": "late"}),
    ("Dear support, order ZK39587 was delivered nearly a month late. I request a refund.", R, {"order_id": "ZK39587", "reason": "late"}),
    ("ZK40610 got here far too late to be of any use, money back please", R, {"order_id": "ZK40610", "reason": "late"}),
    ("I ordered a blue sweater but ZK51743 contained a pair of socks. Please refund.", R, {"order_id": "ZK51743", "reason": "wrong_item"}),
    ("You sent me the wrong thing for ZK62876 and I want my money back.", R, {"order_id": "ZK62876", "reason": "wrong_item"}),
    ("This isn't what I ordered! ZK73909 had a phone case for a completely different model. Refund please.", R, {"order_id": "ZK73909", "reason": "wrong_item"}),
    ("Hi, the package for order ZK84032 had someone else's item in it. Could I get a refund?", R, {"order_id": "ZK84032", "reason": "wrong_item"}),
    ("ZK95165: received size 12 shoes instead of size 8. I'd like a refund rather than an exchange.", R, {"order_id": "ZK95165", "reason": "wrong_item"}),
    ("Order ZK18298 came with the wrong book, I'd like my money returned.", R, {"order_id": "ZK18298", "reason": "wrong_item"}),
    ("I'd like a refund for ZK29321, the dress just doesn't suit me.", R, {"order_id": "ZK29321", "reason": "other"}),
    ("Please refund order ZK30454. The quality is much worse than the photos suggested.", R, {"order_id": "ZK30454", "reason": "other"}),
    ("I got ZK41587 as a gift and already have one. Can I get my money back?", R, {"order_id": "ZK41587", "reason": "other"}),
    ("The blender from ZK52610 is way too loud for my flat. I'd like to return it and be paid back.", R, {"order_id": "ZK52610", "reason": "other"}),
    ("Requesting reimbursement for order ZK63743; the product does not meet my needs.", R, {"order_id": "ZK63743", "reason": "other"}),
    ("ZK74876 - not happy with it, honestly. I'd just like my money back.", R, {"order_id": "ZK74876", "reason": "other"}),
]

if __name__ == "__main__":
    write_rows(ROWS, "tool_choice.test4.jsonl", id_prefix="ZK", seed=20240604)
