"""Hand-written held-out test set (test6) for the 4-way tool-choice task.

    .venv/bin/python benchmarks/write_tool_test6.py   # -> workflows/data/tool_choice.test6.jsonl

100 requests, 25 per tool, each written by hand (no templates), on 2026-12-02 by a helper who
saw only the four tools' definitions: no project file, no training data, no other test set, no
model output. It was asked for real customers' variety: typos, chatty context, non-native
English, requests that never use their tool's keyword, and words of another tool in a request
that clearly needs this one (the same request as test5's writer got, word for word, and the
same as the writer of `tool_choice.train3.jsonl`, who worked at the same time and saw neither
test set). It was committed before any model was scored on it, and its rows were not read by the
person running the benchmarks; wrong answers on it go to a file.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tool_rows import A, C, R, S, write_rows

ROWS = [
    # ---- get_order_status ----
    ("Hey, just checking in on WB40219 — the tracking page hasn't changed since Monday. Is it still moving?", S, {"order_id": "WB40219"}),
    ("order WB51873 still not here ??? when is it coming", S, {"order_id": "WB51873"}),
    ("Good morning, I placed an order (WB62094) on the 3rd for my daughter's birthday which is this Saturday. Could you tell me if it will arrive in time? Many thanks, Helen", S, {"order_id": "WB62094"}),
    ("my package is late. order no WB13586. whats going on with it", S, {"order_id": "WB13586"}),
    ("Dear Sir/Madam, I would like to know the present situation of my purchase with number WB77420. I am waiting since two weeks. Thank you in advance.", S, {"order_id": "WB77420"}),
    ("has WB30851 shipped yet or is it still sitting in your warehouse", S, {"order_id": "WB30851"}),
    ("can u tell me when WB94127 is getting delivered, need to know if i should stay home tomorrow", S, {"order_id": "WB94127"}),
    ("The courier app says 'exception' for WB28563. What does that mean, is my parcel lost?", S, {"order_id": "WB28563"}),
    ("Hello! I moved last month but I already put the new address in before ordering, so that part is fine — I just want to know how far along WB46092 is.", S, {"order_id": "WB46092"}),
    ("WB85316 - any tracking number for this one? The confirmation email didn't have one.", S, {"order_id": "WB85316"}),
    ("Ordered on black friday, WB19748, still says processing. Is it actually coming or did it get forgotten?", S, {"order_id": "WB19748"}),
    ("Hi team, quick question: is WB60375 out for delivery today? My neighbour said a van came by but nothing was left.", S, {"order_id": "WB60375"}),
    ("I'm not asking to cancel or anything, just want an update on WB37204 please", S, {"order_id": "WB37204"}),
    ("yo whats the eta on WB72631", S, {"order_id": "WB72631"}),
    ("Bonjour, I am from France and my english is not good. My commande WB58109 is arrive when? Merci", S, {"order_id": "WB58109"}),
    ("I've been patient but it's been 19 days. Please just tell me where WB24987 is right now.", S, {"order_id": "WB24987"}),
    ("Could you check whether my order WB83542 has left the depot? The estimated date on my account disappeared.", S, {"order_id": "WB83542"}),
    ("Is WB11670 going to make it before Christmas? Really hoping so, it's a gift for my dad.", S, {"order_id": "WB11670"}),
    ("Your website says delivered but I don't see anything at my door yet. Order WB69813. Before I panic, can you look up what the courier has on their end?", S, {"order_id": "WB69813"}),
    ("hello i want know about my order WB42356 it is in which city now", S, {"order_id": "WB42356"}),
    ("Following up on WB90428. Last update was 'label created' five days ago. Has it actually been handed over to the carrier?", S, {"order_id": "WB90428"}),
    ("Been waiting forever for WB55031, honestly getting worried. Any sign of life?", S, {"order_id": "WB55031"}),
    ("Hi, my husband placed order WB26794 using my account and he keeps asking me if it's come yet. Is it on its way?", S, {"order_id": "WB26794"}),
    ("Please advise the expected delivery date for purchase order WB73158. Regards, Procurement Dept., Halden Logistics Ltd.", S, {"order_id": "WB73158"}),
    ("The parcel for WB38460 is late and I need to know if it's even been dispatched. No refund needed, just info.", S, {"order_id": "WB38460"}),
    # ---- cancel_order ----
    ("Please cancel WB50127, I ordered the wrong size by mistake.", C, {"order_id": "WB50127"}),
    ("i dont want WB81392 anymore, can you stop it before it ships?", C, {"order_id": "WB81392"}),
    ("Hi, I'm moving abroad next week and won't be able to receive anything, so please call off order WB27615 entirely.", C, {"order_id": "WB27615"}),
    ("Found the same blender cheaper locally. Kill order WB64408 pls, it hasn't shipped according to my account.", C, {"order_id": "WB64408"}),
    ("Dear support, I would like to withdraw my order WB39051 which I placed this morning by accident. Nothing has been sent yet. Kind regards, Marek", C, {"order_id": "WB39051"}),
    ("accidentally ordered twice!! WB92736 is the duplicate, please scrap that one", C, {"order_id": "WB92736"}),
    ("Can I still get out of WB15863? It's showing 'processing' and I'd rather not go through with it.", C, {"order_id": "WB15863"}),
    ("My son used my card without asking. Order WB47290 — please make sure it never gets sent.", C, {"order_id": "WB47290"}),
    ("CANCEL WB68514 NOW. I've emailed three times.", C, {"order_id": "WB68514"}),
    ("Hello, the delivery date shown for WB30972 is three weeks away and I need the item by Friday, so there's no point — I'd prefer not to receive it at all. Please stop the order.", C, {"order_id": "WB30972"}),
    ("Changed my mind about the sofa cover, WB86245. It hasn't left yet so I'd like to back out of the purchase.", C, {"order_id": "WB86245"}),
    ("Is it possible to annul order WB21409? I chose the wrong payment option and would rather place it again fresh.", C, {"order_id": "WB21409"}),
    ("hey so about WB75360 — not gonna need it after all, the event got called off. can you just not send it", C, {"order_id": "WB75360"}),
    ("Buenas, I want to delete my order WB43187, I don't need it now. thank you", C, {"order_id": "WB43187"}),
    ("Please don't ship WB99021. I'll reorder later when I have the money.", C, {"order_id": "WB99021"}),
    ("I'd like to cancel WB12958 before it goes out. The status doesn't matter to me, I just don't want it.", C, {"order_id": "WB12958"}),
    ("Good afternoon. Regarding order WB57643: we no longer require the goods. Kindly terminate the order prior to dispatch. Thank you, A. Okafor", C, {"order_id": "WB57643"}),
    ("Ugh, I put the wrong item in my basket. WB36814. Can you void it so I can start over?", C, {"order_id": "WB36814"}),
    ("The gift I ordered under WB80567 was supposed to be a surprise but my wife saw the confirmation email. It hasn't shipped, so just call the whole thing off please.", C, {"order_id": "WB80567"}),
    ("please just stop WB25396 from being shipped, I don't want it any more and yes I know the money comes back automatically", C, {"order_id": "WB25396"}),
    ("We're relocating the office and won't have anyone to receive deliveries for a month. Rather than redirect it, please cancel order WB63079.", C, {"order_id": "WB63079"}),
    ("hi hi, WB48720 was ordered for a trip that's no longer happening, still unshipped, please undo the order", C, {"order_id": "WB48720"}),
    ("My partner already bought this exact same TV. Can you halt WB91254 before it leaves so we don't end up with two?", C, {"order_id": "WB91254"}),
    ("how do I stop an order? it's WB17348, placed 10 minutes ago", C, {"order_id": "WB17348"}),
    ("Hallo, please I want the order WB54613 to be stopped, I not need it anymore because I find other shop. Danke", C, {"order_id": "WB54613"}),
    # ---- change_address ----
    ("Hi, I just moved to Lisbon — can you send WB70318 to my new place there instead?", A, {"order_id": "WB70318", "city": "Lisbon"}),
    ("please redirect WB33925 to my sister in Rio de Janeiro, I'll be staying with her when it arrives", A, {"order_id": "WB33925", "city": "Rio de Janeiro"}),
    ("Order WB48157: I typed my old address by mistake. The parcel should go to New York, I'll send the full street address in a reply.", A, {"order_id": "WB48157", "city": "New York"}),
    ("I'm not cancelling, I still want it, but WB85602 needs to go to Buenos Aires now since I relocated for work.", A, {"order_id": "WB85602", "city": "Buenos Aires"}),
    ("Can the delivery for WB21843 be switched to Kuala Lumpur? Got transferred by my company last week.", A, {"order_id": "WB21843", "city": "Kuala Lumpur"}),
    ("Hello, my order WB60794 hasn't shipped yet. I'll be in Cape Town for the next two months, so please deliver it there.", A, {"order_id": "WB60794", "city": "Cape Town"}),
    ("new address for WB92481: Hong Kong (same building name, different city lol, long story)", A, {"order_id": "WB92481", "city": "Hong Kong"}),
    ("Hey — could you ship WB39576 to San Francisco rather than the address on file? I'm staying at a friend's.", A, {"order_id": "WB39576", "city": "San Francisco"}),
    ("Dear Customer Service, I have changed my residence. Kindly update the destination of order WB16230 to Osaka. Best regards, Yuki", A, {"order_id": "WB16230", "city": "Osaka"}),
    ("wrong city on WB57319!! it should be Toronto not what i typed", A, {"order_id": "WB57319", "city": "Toronto"}),
    ("My status page says it's not shipped yet, so can you still change where WB74065 goes? I need it in Berlin.", A, {"order_id": "WB74065", "city": "Berlin"}),
    ("Moving to Nairobi end of the month. Order WB28934 — deliver it to my new home please.", A, {"order_id": "WB28934", "city": "Nairobi"}),
    ("Could WB83617 go to my office in Melbourne instead of my home? Easier to pick up there.", A, {"order_id": "WB83617", "city": "Melbourne"}),
    ("hi, i wnat to change adress of WB45208 to Krakow, my new flat", A, {"order_id": "WB45208", "city": "Krakow"}),
    ("Please update shipping on WB66742 — I'll be in Dublin, not at home, when it's due.", A, {"order_id": "WB66742", "city": "Dublin"}),
    ("My order WB19685 was meant for my mum, who lives in Mexico City, but I put my own address. Can you fix that?", A, {"order_id": "WB19685", "city": "Mexico City"}),
    ("The delivery is going to be late anyway, so while it's still in the warehouse please send WB52370 to Seoul where I'll be by then.", A, {"order_id": "WB52370", "city": "Seoul"}),
    ("Got a new job in Edinburgh and I start Monday. Is it possible to have WB87153 delivered there?", A, {"order_id": "WB87153", "city": "Edinburgh"}),
    ("Bonjour, je suis désolé for my English. The order WB34029 please send to Marseille, not to old address. Merci beaucoup", A, {"order_id": "WB34029", "city": "Marseille"}),
    ("Instead of cancelling WB61498 I'd rather just have it sent to Vancouver, where I'm living now.", A, {"order_id": "WB61498", "city": "Vancouver"}),
    ("Assalamu alaikum, I recently relocated to Abu Dhabi. Please make the delivery address of WB29706 my new one there.", A, {"order_id": "WB29706", "city": "Abu Dhabi"}),
    ("reroute WB78845 → Ho Chi Minh City. thx", A, {"order_id": "WB78845", "city": "Ho Chi Minh City"}),
    ("Hello, I'm heading to Los Angeles for a conference and won't be back for three weeks. Could order WB40671 be delivered to my hotel there instead?", A, {"order_id": "WB40671", "city": "Los Angeles"}),
    ("Quick one: WB95532 should be going to Manchester. I changed flats and forgot to update my account before ordering.", A, {"order_id": "WB95532", "city": "Manchester"}),
    ("Olá! Can you change the city for order WB13264 to Porto please? I'm living there since January.", A, {"order_id": "WB13264", "city": "Porto"}),
    # ---- refund_order ----
    ("The mug from WB56281 arrived in pieces. Box was crushed. I'd like my money back.", R, {"order_id": "WB56281", "reason": "damaged"}),
    ("WB22847 turned up four days after the wedding it was meant for. Useless now, I want a refund.", R, {"order_id": "WB22847", "reason": "late"}),
    ("I ordered a blue kettle and got a pink toaster. Order WB69430. Please refund me.", R, {"order_id": "WB69430", "reason": "wrong_item"}),
    ("Got WB31592 yesterday, nothing wrong with it, I just don't like it. Can I get reimbursed?", R, {"order_id": "WB31592", "reason": "other"}),
    ("the headphones in WB84716 only work on the left side, straight out of the box. refund please", R, {"order_id": "WB84716", "reason": "damaged"}),
    ("Paid for express shipping on WB47063 and it took 12 days to arrive. I want my money returned for this order.", R, {"order_id": "WB47063", "reason": "late"}),
    ("Hi there, order WB15679 was supposed to be size 42 boots but inside were kids' sandals. I'd like a refund rather than an exchange.", R, {"order_id": "WB15679", "reason": "wrong_item"}),
    ("My aunt and I both bought my cousin the same blender as a wedding gift, so WB90352 is a duplicate. It's unopened — can I get my money back?", R, {"order_id": "WB90352", "reason": "other"}),
    ("Bonjour, the screen of the tablet (order WB37918) is cracked when I open the package. I want reimbursement please.", R, {"order_id": "WB37918", "reason": "damaged"}),
    ("Halloween costume, order WB62405, arrived on November 3rd. Kind of pointless now. Refund please.", R, {"order_id": "WB62405", "reason": "late"}),
    ("you sent me someone elses order?? WB28196 has a dog bed in it, i ordered a phone case. want my money back", R, {"order_id": "WB28196", "reason": "wrong_item"}),
    ("I'm moving house and won't have room for the bookshelf from WB73821, which arrived last week in perfect shape. I'd like to return it for a refund.", R, {"order_id": "WB73821", "reason": "other"}),
    ("Dear team, the vase delivered with order WB41067 has a large chip on the rim and a crack down one side. Kindly process a refund. Regards, P. Nakamura", R, {"order_id": "WB41067", "reason": "damaged"}),
    ("I didn't cancel WB86530 because you promised it would come in 3 days. It came after 3 weeks. Please give me my money back.", R, {"order_id": "WB86530", "reason": "late"}),
    ("Received WB53174 today - it's the wrong colour AND the wrong model. Not what I paid for. Refund please.", R, {"order_id": "WB53174", "reason": "wrong_item"}),
    ("I ordered WB19423 on impulse and regret it now that it's here. Haven't even taken the tags off. Can I get my money back?", R, {"order_id": "WB19423", "reason": "other"}),
    ("WB67285 leaked all over the box, the bottle cap was broken. refund", R, {"order_id": "WB67285", "reason": "damaged"}),
    ("The courier finally delivered WB30649 — 25 days after your promised date. I had already bought a replacement elsewhere. Refund, please.", R, {"order_id": "WB30649", "reason": "late"}),
    ("Hello, in the box of my order WB94871 I found a men's shirt, but I ordered a women's dress. Please can I have my money back. Thank you", R, {"order_id": "WB94871", "reason": "wrong_item"}),
    ("Dear support, I received order WB58036 but my employer has since provided me with the same laptop stand. I would like to return it and be refunded. Kind regards, Tom", R, {"order_id": "WB58036", "reason": "other"}),
    ("The chair from WB12697 came with one armrest snapped off and the frame bent. Not safe to use. I want a refund.", R, {"order_id": "WB12697", "reason": "damaged"}),
    ("Your tracking told me where it was every single day but it still took a month. WB75814 came way too late for my trip. Refund it please.", R, {"order_id": "WB75814", "reason": "late"}),
    ("Ordered 3 packs of AA batteries, got 3 packs of AAA. WB43502. Please refund, I can't use these.", R, {"order_id": "WB43502", "reason": "wrong_item"}),
    ("Hi, WB81169 arrived fine but I found out I'm allergic to the wool. Is a refund possible?", R, {"order_id": "WB81169", "reason": "other"}),
    ("Opened WB26958 and the laptop won't power on at all. Dead on arrival. Refund please, not a replacement.", R, {"order_id": "WB26958", "reason": "damaged"}),
]

if __name__ == "__main__":
    write_rows(ROWS, "tool_choice.test6.jsonl", id_prefix="WB", seed=20261203)
