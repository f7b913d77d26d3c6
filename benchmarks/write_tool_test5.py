"""Hand-written held-out test set (test5) for the 4-way tool-choice task.

    .venv/bin/python benchmarks/write_tool_test5.py   # -> workflows/data/tool_choice.test5.jsonl

100 requests, 25 per tool, each written by hand (no templates), on 2026-12-02 by a helper who
saw only the four tools' definitions: no project file, no training data, no other test set, no
model output. It was asked for real customers' variety: typos, chatty context, non-native
English, requests that never use their tool's keyword, and words of another tool in a request
that clearly needs this one. It was committed before any model was scored on it, and its rows
were not read by the person running the benchmarks; wrong answers on it go to a file.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tool_rows import A, C, R, S, write_rows

ROWS = [
    # ---- get_order_status ----
    ("hey, any update on QM18342? ordered last monday and nothing yet", S, {"order_id": "QM18342"}),
    ("Hello, I placed an order (QM52907) for my daughter's birthday on Saturday. Could you tell me whether it will get here in time? Thanks so much, Linda", S, {"order_id": "QM52907"}),
    ("wheres my stuff QM73015", S, {"order_id": "QM73015"}),
    ("My package QM20488 is late. The site said 3-5 business days and it's day 9. Has it even left the warehouse?", S, {"order_id": "QM20488"}),
    ("Good morning, kindly inform me the current situation of my order number QM61139. I am waiting since long time. Regards", S, {"order_id": "QM61139"}),
    ("tracking for QM09874 pls", S, {"order_id": "QM09874"}),
    ("Has QM34726 shipped yet?", S, {"order_id": "QM34726"}),
    ("I moved house last month but I already put the new address in before ordering, so that part is fine. I just want to know when QM85530 is expected to arrive.", S, {"order_id": "QM85530"}),
    ("The tracking link in my email for QM47091 just shows an error page. Can you check on it for me?", S, {"order_id": "QM47091"}),
    ("Is QM26653 still being processed or is it on the truck already?", S, {"order_id": "QM26653"}),
    ("Dear Support Team,\n\nI ordered a pair of hiking boots about ten days ago, reference QM71820. I have not received any shipping confirmation. Could you please let me know the progress?\n\nBest regards,\nTomasz", S, {"order_id": "QM71820"}),
    ("yo QM13598 - ETA?", S, {"order_id": "QM13598"}),
    ("the tracking for QM90347 says delivered but there's nothing at my door. can you check what the courier scanned and where exactly they left it?", S, {"order_id": "QM90347"}),
    ("Not trying to cancel or anything, just curious how far along QM58216 is", S, {"order_id": "QM58216"}),
    ("Bonjour, I would like to know if my command QM37462 is sent already. Merci", S, {"order_id": "QM37462"}),
    ("ordered QM64105 with express shipping, paid extra for it. what's going on with it??", S, {"order_id": "QM64105"}),
    ("Can you tell me which carrier is handling QM29970 and give me the tracking number?", S, {"order_id": "QM29970"}),
    ("I'm going to be away from Thursday to Sunday. Will QM81653 arrive before Thursday, or should I ask a neighbour to watch for it?", S, {"order_id": "QM81653"}),
    ("Still waiting on QM45328!!! third time I'm asking. WHEN does it come", S, {"order_id": "QM45328"}),
    ("hii i buyed shoes order QM06791 when it come to me? thank u", S, {"order_id": "QM06791"}),
    ("Quick question: QM77234 has it cleared customs yet? It's an international shipment.", S, {"order_id": "QM77234"}),
    ("my husband placed order QM32819 on my account and I have no idea what he bought or when it's coming lol. could you look it up?", S, {"order_id": "QM32819"}),
    ("The app shows 'label created' for QM98462 for 6 days now. Is it actually moving?", S, {"order_id": "QM98462"}),
    ("Checking in on QM15047. I don't need a refund or anything, I just want an arrival date.", S, {"order_id": "QM15047"}),
    ("Please confirm that order QM53680 has been dispatched. I need the information for my expense report.", S, {"order_id": "QM53680"}),

    # ---- cancel_order ----
    ("Please cancel QM24519, I ordered it by mistake.", C, {"order_id": "QM24519"}),
    ("I'm moving to another country next week so I won't be here to receive QM67302. Please just stop the order, I'll reorder later once I'm settled.", C, {"order_id": "QM67302"}),
    ("dont want QM11876 anymore, found it cheaper elsewhere. kill it before it ships", C, {"order_id": "QM11876"}),
    ("Hi, I accidentally ordered the same lamp twice. The second one is QM83095, can you void that one? It hasn't been sent yet according to my account.", C, {"order_id": "QM83095"}),
    ("Hello. I have changed my mind about order QM42170. I do not wish to receive it. It has not shipped yet. Please stop it and return the money to my card.", C, {"order_id": "QM42170"}),
    ("cancel QM59843", C, {"order_id": "QM59843"}),
    ("My card was charged for QM30628 but I just realized I picked the wrong size. Easier to call the whole thing off and start over. It still says 'processing', so please scrap it and I'll place a new one.", C, {"order_id": "QM30628"}),
    ("Good day, I want to annulate my order QM76514. Is possible before it is sending? Thank you very much", C, {"order_id": "QM76514"}),
    ("The delivery estimate for QM04937 is three weeks out. That's way too late for what I need it for, so please cancel it now instead of shipping it.", C, {"order_id": "QM04937"}),
    ("Hi there, I'd like to withdraw order QM88261. Nothing wrong with you guys, just my budget changed this month.", C, {"order_id": "QM88261"}),
    ("URGENT: do NOT ship QM21754. Someone used my account without permission. Cancel it immediately.", C, {"order_id": "QM21754"}),
    ("hey so my gf already bought me the exact same headphones lol. can u stop QM69408 from going out", C, {"order_id": "QM69408"}),
    ("Dear Sir/Madam,\n\nRegarding order QM35182, placed yesterday evening: I would like to rescind this purchase, as our company's procurement was approved through a different vendor. As the order is still pending, I trust this can be done without difficulty.\n\nKind regards,\nMs. R. Okafor", C, {"order_id": "QM35182"}),
    ("QM92615 - forget it, I don't need it anymore. Hasn't shipped, so just cancel pls.", C, {"order_id": "QM92615"}),
    ("I ordered this as a gift but the party got called off. QM47753 hasn't been dispatched yet, can you nix it?", C, {"order_id": "QM47753"}),
    ("is it possible to undo an order? QM13049, i pressed buy by accident while scrolling", C, {"order_id": "QM13049"}),
    ("I want my order QM80716 annulled. You have taken 4 days and still not shipped it, I lost patience.", C, {"order_id": "QM80716"}),
    ("Hello, the address is wrong on QM56021 but honestly I'd rather cancel it and re-place the order from scratch than fix it. It's still not shipped.", C, {"order_id": "QM56021"}),
    ("pls cancle order QM27394 thx", C, {"order_id": "QM27394"}),
    ("We are relocating the office and won't have anyone to sign for deliveries for a while. Please cancel QM64480, it's still in 'processing'.", C, {"order_id": "QM64480"}),
    ("I don't want to get a refund later, I want to stop QM39907 now before it ships so I don't have to deal with returns.", C, {"order_id": "QM39907"}),
    ("My kid ordered this on my tablet without asking. QM71358. Please make it go away before it ships, I don't want it delivered.", C, {"order_id": "QM71358"}),
    ("Order QM05283: I no longer require this item. Kindly cancel the order at your earliest convenience.", C, {"order_id": "QM05283"}),
    ("hello i see my order QM48826 still not send. i dont want wait more, please stop it and give me back money", C, {"order_id": "QM48826"}),
    ("Realized the item in QM90172 isn't compatible with my laptop. Since it hasn't gone out yet, please don't send it at all.", C, {"order_id": "QM90172"}),

    # ---- change_address ----
    ("Hi, I need QM31467 sent to Lisbon instead, I'm staying there for the summer.", A, {"order_id": "QM31467", "city": "Lisbon"}),
    ("Can you redirect QM72658 to my office in Buenos Aires? Calle Florida 250. Thanks", A, {"order_id": "QM72658", "city": "Buenos Aires"}),
    ("I'm moving next week!! please deliver QM14083 to the new place in Rio de Janeiro, Rua das Laranjeiras 115", A, {"order_id": "QM14083", "city": "Rio de Janeiro"}),
    ("change address for QM86924 to Osaka", A, {"order_id": "QM86924", "city": "Osaka"}),
    ("Hello, my order QM23790 will sit at my door for days if it goes to my home, because I'm away. Could you please send it to my parents' house in Kraków instead?", A, {"order_id": "QM23790", "city": "Kraków"}),
    ("Dear team,\nplease update the shipping destination for order QM50316 to: 12 Harbour Street, Cape Town, 8001. I relocated for work.\nMany thanks,\nPieter", A, {"order_id": "QM50316", "city": "Cape Town"}),
    ("wrong address on QM67249 😩 it should go to Toronto not where it says", A, {"order_id": "QM67249", "city": "Toronto"}),
    ("Please don't cancel QM08812, I still want it. I just need it delivered to Melbourne now since I've moved.", A, {"order_id": "QM08812", "city": "Melbourne"}),
    ("can u ship QM45571 to my sisters in New York? 220 W 14th St apt 3. she'll hold it for me", A, {"order_id": "QM45571", "city": "New York"}),
    ("Hallo, I have moved to Munich since I ordered. Please change the adress for QM93208. New: Leopoldstrasse 8, 80802 Munich.", A, {"order_id": "QM93208", "city": "Munich"}),
    ("Since QM29635 hasn't shipped yet, could you switch its delivery to Seoul instead of the address on file?", A, {"order_id": "QM29635", "city": "Seoul"}),
    ("Ship QM61790 to Mexico City. Avenida Reforma 222. Same name.", A, {"order_id": "QM61790", "city": "Mexico City"}),
    ("i typed my old address by mistake on QM37018. i live in Dublin now, 14 Mountjoy Square.", A, {"order_id": "QM37018", "city": "Dublin"}),
    ("Hi! Small favour: I'm going to be at a conference in Singapore all of next week, can QM84453 be delivered to my hotel there instead? Marina Bay Sands, booked under my name.", A, {"order_id": "QM84453", "city": "Singapore"}),
    ("Good afternoon. For order QM16692 I wish to modify the receiving location to Nairobi, Kenya, Westlands, ABC Place. Thank you for your kind help.", A, {"order_id": "QM16692", "city": "Nairobi"}),
    ("QM53971 needs to go to Los Angeles, not my home. gift for my brother. 1840 Sunset Blvd", A, {"order_id": "QM53971", "city": "Los Angeles"}),
    ("ugh. your checkout auto-filled the wrong place for QM78106. correct destination: Istanbul, Kadikoy, Moda Cd. No. 40", A, {"order_id": "QM78106", "city": "Istanbul"}),
    ("My mum is in hospital so I'm staying with her in Edinburgh for a few weeks. Could you reroute QM20337 there? 5 Leith Walk.", A, {"order_id": "QM20337", "city": "Edinburgh"}),
    ("Is there any way to get QM65584 delivered to Hong Kong instead? I'm flying out tomorrow and won't be back for a month, I'll be at my cousin's in Wan Chai.", A, {"order_id": "QM65584", "city": "Hong Kong"}),
    ("Hello sir, please send my parcel QM42896 to Mumbai not to old address. New address: Flat 7, Bandra West, Mumbai 400050.", A, {"order_id": "QM42896", "city": "Mumbai"}),
    ("I'd like to update the delivery address on QM97413. New address: 3 Rue Oberkampf, 75011 Paris.", A, {"order_id": "QM97413", "city": "Paris"}),
    ("not a refund, not a cancel, just a new address for QM34059. it should go to São Paulo now.", A, {"order_id": "QM34059", "city": "São Paulo"}),
    ("Moving to Vancouver on the 1st. QM11248 ships after that so please send it to 900 Burrard St instead.", A, {"order_id": "QM11248", "city": "Vancouver"}),
    ("Could QM89730 be sent to Stockholm? Wrong city on the order, my fault.", A, {"order_id": "QM89730", "city": "Stockholm"}),
    ("hi my order QM56604 is going to the wrong house, i moved to Kuala Lumpur last month, can you fix the delivery", A, {"order_id": "QM56604", "city": "Kuala Lumpur"}),

    # ---- refund_order ----
    ("The vase from QM47125 arrived in pieces. The box was crushed on one corner. I'd like my money back please.", R, {"order_id": "QM47125", "reason": "damaged"}),
    ("QM82306 finally showed up, two days AFTER the wedding it was meant for. Useless to me now. I want a refund.", R, {"order_id": "QM82306", "reason": "late"}),
    ("I ordered a blue medium hoodie and got a pair of kids' socks?? order QM19574. refund please", R, {"order_id": "QM19574", "reason": "wrong_item"}),
    ("Got QM60832 yesterday, everything's fine with it, I just changed my mind. Can I get my money back?", R, {"order_id": "QM60832", "reason": "other"}),
    ("screen on the tablet from QM35419 is cracked right out of the box. want a refund not a replacement", R, {"order_id": "QM35419", "reason": "damaged"}),
    ("Hello, the Christmas decorations in order QM73960 were delivered on January 4th. Obviously I can no longer use them this season. Please refund the order.", R, {"order_id": "QM73960", "reason": "late"}),
    ("Dear support,\n\nI received order QM28617 today but the contents are not what I purchased: I ordered a stainless steel kettle and received a toaster. I would like a refund rather than an exchange.\n\nRegards,\nH. Nakamura", R, {"order_id": "QM28617", "reason": "wrong_item"}),
    ("my aunt and I both bought the same blender for my mom lol. she gave hers first. QM91482 arrived today, can I get refunded for it?", R, {"order_id": "QM91482", "reason": "other"}),
    ("the zipper on the backpack (QM04653) broke the first time I opened it. defective. refund pls", R, {"order_id": "QM04653", "reason": "damaged"}),
    ("You promised next-day delivery on QM56278, I paid for it, and it came a full week later. I'd like my money returned.", R, {"order_id": "QM56278", "reason": "late"}),
    ("this is not my order. QM39841 should be a phone case for iPhone 13, you sent one for a Samsung. just refund me", R, {"order_id": "QM39841", "reason": "wrong_item"}),
    ("Received QM67025 and the quality is just not what I expected from the photos. Nothing broken, just disappointing. I'd like to send it back for a refund.", R, {"order_id": "QM67025", "reason": "other"}),
    ("Buenos días, my order QM12798 arrive with the glass all broken inside and liquid everywhere. I want the money back please.", R, {"order_id": "QM12798", "reason": "damaged"}),
    ("ok so QM84539 arrived, great, but it arrived 3 weeks late and I already bought the thing in a store. refund.", R, {"order_id": "QM84539", "reason": "late"}),
    ("Wrong item!!! QM50964. I asked for men's running shoes size 42, these are women's sandals. Money back now", R, {"order_id": "QM50964", "reason": "wrong_item"}),
    ("Hi, I'm writing about QM23186. It was delivered fine but I've since found out my landlord doesn't allow this kind of heater in the flat, so I'll be sending it back. Can you process a refund?", R, {"order_id": "QM23186", "reason": "other"}),
    ("The chair from QM78340 came with one of the legs split down the middle. It can't be assembled. Please refund.", R, {"order_id": "QM78340", "reason": "damaged"}),
    ("I'm not cancelling, it's already here, but QM46607 was so late it missed my trip entirely. I want a refund.", R, {"order_id": "QM46607", "reason": "late"}),
    ("I think your warehouse mixed up orders. The package for QM31859 had someone else's books in it, not the coffee grinder I ordered. Refund please, I'll buy the grinder elsewhere.", R, {"order_id": "QM31859", "reason": "wrong_item"}),
    ("Hello, I ordered the same thing twice by accident and both got delivered. QM69214 is the extra one, I'd like a refund for it.", R, {"order_id": "QM69214", "reason": "other"}),
    ("dead on arrival. the speaker from QM15973 won't turn on at all, tried 3 different cables. i want my money back", R, {"order_id": "QM15973", "reason": "damaged"}),
    ("Order QM93825: expected by the 12th, arrived on the 28th. The event is over. Refund requested.", R, {"order_id": "QM93825", "reason": "late"}),
    ("my address was right and the box came on time, but inside QM07461 was a completely different product, a yoga mat instead of the dumbbells. need a refund", R, {"order_id": "QM07461", "reason": "wrong_item"}),
    ("QM58492 arrived today. My son says he doesn't want it anymore (kids...). It's unopened. How do I get my money back?", R, {"order_id": "QM58492", "reason": "other"}),
    ("Hi, the package QM44718 came soaking wet and the book inside is ruined, pages stuck together. Can I please get a refund?", R, {"order_id": "QM44718", "reason": "damaged"}),
]

if __name__ == "__main__":
    write_rows(ROWS, "tool_choice.test5.jsonl", id_prefix="QM", seed=20261202)
