"""A third training file for the 4-way tool-choice task (train3), hand-written.

    .venv/bin/python benchmarks/write_tool_train3.py   # -> workflows/data/tool_choice.train3.jsonl

200 requests, 50 per tool, each written by hand (no templates), on 2026-12-02 by a helper who saw
only the four tools' definitions: no project file, no other training file, no test set, no model
output. It got the same request, word for word, as the writers of test5 and test6 (real
customers' variety: typos, chatty context, non-native English, requests that never use their
tool's keyword, words of another tool in a request that clearly needs this one), at 50 rows per
tool instead of 25, and worked at the same time as test6's writer without seeing its file.
Why it exists: the head over MiniLM scored 93.0% on test5 (its first score there), under the
97% target; the answer chosen is more varied training data, not a change made by reading test5.
"""
import collections
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tool_data import TOOLS

OUT = Path(__file__).resolve().parents[1] / "workflows" / "data" / "tool_choice.train3.jsonl"
S, C, A, R = "get_order_status", "cancel_order", "change_address", "refund_order"

ROWS = [
    # ---------------- get_order_status ----------------
    ("hi, ordered a jacket last week (HX48213) and haven't heard anything since. any news?", S, {"order_id": "HX48213"}),
    ("Where is my package? Order HX10937", S, {"order_id": "HX10937"}),
    ("Good morning,\n\nI placed order HX55120 on the 3rd and the tracking page still says 'processing'. Could you tell me what's going on with it?\n\nKind regards,\nMarta", S, {"order_id": "HX55120"}),
    ("my parcel is 4 days late already. HX73302. is it lost or just slow??", S, {"order_id": "HX73302"}),
    ("hello i want know when arrive my order HX20684 thank you", S, {"order_id": "HX20684"}),
    ("HX91455 - has this shipped yet?", S, {"order_id": "HX91455"}),
    ("Can u check on HX33871 for me pls, kid's birthday is saturday and im getting nervous", S, {"order_id": "HX33871"}),
    ("Still waiting on HX60219. It's been two weeks. What is happening??", S, {"order_id": "HX60219"}),
    ("Quick question - has order HX07742 left your warehouse, and if so which courier is carrying it?", S, {"order_id": "HX07742"}),
    ("tracking number for HX84520?", S, {"order_id": "HX84520"}),
    ("Hi there! I'm so excited about the lamp I bought, order HX29906. Just wondering roughly what day it'll show up at my door?", S, {"order_id": "HX29906"}),
    ("The courier app says 'delivery exception' for HX51378. What does that mean, and where is it now?", S, {"order_id": "HX51378"}),
    ("dear sir/madam, kindly provide update on the consignment HX66041. regards", S, {"order_id": "HX66041"}),
    ("ok so i got an email saying out for delivery on HX38215 yesterday and nothing came. is it still coming today?", S, {"order_id": "HX38215"}),
    ("I am not asking to cancel or change anything, I just want to know the progress of HX72683.", S, {"order_id": "HX72683"}),
    ("wheres my stuff HX19024", S, {"order_id": "HX19024"}),
    ("Bonjour, I command on your site, number HX45597, I don't receive nothing yet. You can say me where it is?", S, {"order_id": "HX45597"}),
    ("Order HX83146 shows delivered but there's nothing on my porch or with the neighbours. Can you confirm where the driver actually left it?", S, {"order_id": "HX83146"}),
    ("Hey, is HX27760 still on track for Friday?", S, {"order_id": "HX27760"}),
    ("It's been ages. HX58832. Seriously, did you even send it?", S, {"order_id": "HX58832"}),
    ("Could you let me know the estimated delivery date for order HX04418? I need to plan around being home.", S, {"order_id": "HX04418"}),
    ("hi!! just checking in on HX96673 :) no rush", S, {"order_id": "HX96673"}),
    ("My package was supposed to arrive Monday and it's Thursday. Order no. HX31509. I don't want a refund, I just want to know when it'll get here.", S, {"order_id": "HX31509"}),
    ("Has HX62254 been dispatched? The confirmation email didn't say.", S, {"order_id": "HX62254"}),
    ("i moved last month but i already gave you the new address when i ordered, so that part's fine - i just need to know if HX15887 is on its way.", S, {"order_id": "HX15887"}),
    ("What's the latest on order HX77326?", S, {"order_id": "HX77326"}),
    ("Tracking for HX40051 hasn't updated in 6 days, stuck at 'in transit - Memphis hub'. Is it actually moving?", S, {"order_id": "HX40051"}),
    ("Hello team, I'd appreciate an update regarding HX89417. Thanks in advance.", S, {"order_id": "HX89417"}),
    ("yo has my order gone out yet. HX23648", S, {"order_id": "HX23648"}),
    ("Sorry to bother you again but HX54902 - any idea when it will be delivered? Last time someone said 3-5 days and it's been 8.", S, {"order_id": "HX54902"}),
    ("Is HX67185 held up in customs? It's an international order and I haven't seen any movement since it left the origin country.", S, {"order_id": "HX67185"}),
    ("I paid for express shipping on HX12093. When can I expect it?", S, {"order_id": "HX12093"}),
    ("Good afternoon. Would you be able to tell me which stage order HX85734 is at? Packed, shipped, anything?", S, {"order_id": "HX85734"}),
    ("order HX36470 ... hello?? anyone?? i need to know if its coming", S, {"order_id": "HX36470"}),
    ("Hi, my husband ordered something under HX70928 and asked me to check whether it's reached the local depot yet.", S, {"order_id": "HX70928"}),
    ("Is there a delivery window for HX43316? I work nights and want to be awake for it.", S, {"order_id": "HX43316"}),
    ("Order HX98052 - the page just says 'label created' for a week. Has it actually been handed to the carrier?", S, {"order_id": "HX98052"}),
    ("hallo, please information about my order HX26189. when coming?", S, {"order_id": "HX26189"}),
    ("Just want peace of mind: HX57463 is definitely going to arrive before Christmas, right? Can you look?", S, {"order_id": "HX57463"}),
    ("I keep refreshing the page for HX81720 and nothing changes lol. can you see anything on your end?", S, {"order_id": "HX81720"}),
    ("Can you tell me if HX03395 has been delivered? I'm away and my neighbour is collecting packages for me.", S, {"order_id": "HX03395"}),
    ("Hi,\nRe: HX64847\nCould you confirm the current location of this shipment?\nThanks,\nD. Okafor", S, {"order_id": "HX64847"}),
    ("How far away is HX39201 right now", S, {"order_id": "HX39201"}),
    ("hey it's late again, same as last time. HX75168. what's the holdup?", S, {"order_id": "HX75168"}),
    ("I'd like to keep the order, I'm just curious how long HX16634 will take to reach me.", S, {"order_id": "HX16634"}),
    ("Please advise the shipping progress of HX92587. We are a small business and need the goods for an event.", S, {"order_id": "HX92587"}),
    ("is HX49970 coming by post or by courier? and roughly when", S, {"order_id": "HX49970"}),
    ("My order number is HX08831. Did it go out with the rest of the sale orders or is it delayed? Just want to know when to expect it.", S, {"order_id": "HX08831"}),
    ("Any movement on HX61427? The last scan was in Rotterdam four days ago.", S, {"order_id": "HX61427"}),
    ("checking on HX35096, said 2-day shipping and its day 5", S, {"order_id": "HX35096"}),

    # ---------------- cancel_order ----------------
    ("Please cancel order HX41862, I ordered it by mistake.", C, {"order_id": "HX41862"}),
    ("I don't want HX22907 anymore. Please stop it before it ships.", C, {"order_id": "HX22907"}),
    ("hi i accidentally bought the same shoes twice, can you kill order HX63054? the other one is fine", C, {"order_id": "HX63054"}),
    ("We're moving overseas next week so there's no point sending anything. Please call off HX17493 entirely.", C, {"order_id": "HX17493"}),
    ("Found it cheaper elsewhere, sorry. HX80526 - please don't send it.", C, {"order_id": "HX80526"}),
    ("Dear Customer Service,\n\nI would like to withdraw my purchase, order reference HX34771. It has not been dispatched yet according to my account. Please confirm once it is cancelled.\n\nBest regards,\nHenrik", C, {"order_id": "HX34771"}),
    ("cancel HX58340", C, {"order_id": "HX58340"}),
    ("Hi - changed my mind about the blender (HX90615). It hasn't shipped yet so can you just scrap the order?", C, {"order_id": "HX90615"}),
    ("my card was used without my permission to place HX26108, please stop this order immediately!!", C, {"order_id": "HX26108"}),
    ("Can I still back out of HX73982? I only placed it an hour ago.", C, {"order_id": "HX73982"}),
    ("pls no send HX05219, i not need anymore. thank you", C, {"order_id": "HX05219"}),
    ("Ugh, ordered the wrong size. HX47756 hasn't gone out yet - just void it and I'll reorder.", C, {"order_id": "HX47756"}),
    ("I'd like to annul order HX68423 please, the delivery date you're quoting is too far out for me.", C, {"order_id": "HX68423"}),
    ("Order HX11390: don't ship it. My boss already bought one for the office.", C, {"order_id": "HX11390"}),
    ("Hey, I placed HX82047 last night after a glass of wine and I regret it haha. Can we undo it?", C, {"order_id": "HX82047"}),
    ("Please terminate order HX39658. I no longer require the items.", C, {"order_id": "HX39658"}),
    ("This is taking forever to ship. Just forget about HX54213, I'll buy it in store.", C, {"order_id": "HX54213"}),
    ("Is it possible to cancel HX76894 before it leaves the warehouse? I'd rather stop it now than deal with a return later.", C, {"order_id": "HX76894"}),
    ("i wanna cancel my order HX30471 before u ship it", C, {"order_id": "HX30471"}),
    ("Good evening, kindly cancel my order number HX95136 as I have made a duplicate purchase.", C, {"order_id": "HX95136"}),
    ("The price dropped the day after I ordered. Rather than fight about it, just cancel HX21584 and I'll place it again at the new price.", C, {"order_id": "HX21584"}),
    ("Hello! Wedding got called off (long story) so I won't need the decorations in HX43029. Could you stop the order? It says 'awaiting dispatch'.", C, {"order_id": "HX43029"}),
    ("I'd rather not have HX69702 delivered at all - please take it out of the shipping queue and close the order.", C, {"order_id": "HX69702"}),
    ("CANCEL ORDER HX08367 NOW. I've emailed three times.", C, {"order_id": "HX08367"}),
    ("Es posible anular mi pedido HX52891? I mean cancel it, it is not sent yet. Thank you.", C, {"order_id": "HX52891"}),
    ("I don't need HX87615 any more since we're moving house and the new flat is already furnished. Please don't send it.", C, {"order_id": "HX87615"}),
    ("Hi, can you stop HX14250 from being processed? I picked the wrong payment method and want to start over.", C, {"order_id": "HX14250"}),
    ("my mum ordered HX61973 on my account without asking. can you reverse it before it ships", C, {"order_id": "HX61973"}),
    ("Order HX36618 - please drop it. Not needed.", C, {"order_id": "HX36618"}),
    ("Hi there, I'm writing to request the cancellation of HX79344. It's still pending so I hope that's straightforward.", C, {"order_id": "HX79344"}),
    ("how do i cancel? order is HX27085, just placed it", C, {"order_id": "HX27085"}),
    ("Would it be possible to not go ahead with order HX50762? The gift recipient already has one and it hasn't been sent yet.", C, {"order_id": "HX50762"}),
    ("HX93407 - I want out. Haven't received a shipping email so it shouldn't be a problem.", C, {"order_id": "HX93407"}),
    ("Just realised HX18856 has the wrong colour selected. Easier to cancel it and reorder than anything else, please do.", C, {"order_id": "HX18856"}),
    ("Good day. Please be informed that we wish to cancel purchase order HX64129 as our budget has been frozen.", C, {"order_id": "HX64129"}),
    ("hey can u nix HX42793? thx", C, {"order_id": "HX42793"}),
    ("I'm not going to be around to receive HX71510 for a month so please just cancel it, I'll order again when I'm back.", C, {"order_id": "HX71510"}),
    ("Please do not process HX29638 any further - cancel it. It hasn't shipped so the money should just go back to my card automatically, right?", C, {"order_id": "HX29638"}),
    ("ordered HX85062 at 2am by accident, my toddler was playing with my phone. please cancel!!", C, {"order_id": "HX85062"}),
    ("Hello, I'd like to stop my order HX33497. Reason: I found the item at a local shop.", C, {"order_id": "HX33497"}),
    ("Regarding HX56981: I would like this order cancelled prior to shipment. Thank you.", C, {"order_id": "HX56981"}),
    ("changed my mind. HX12735. dont ship", C, {"order_id": "HX12735"}),
    ("I no longer wish to proceed with order HX97264. Please cancel it while it is still in processing.", C, {"order_id": "HX97264"}),
    ("Can you scrap HX40318? I'll be ordering a different model instead.", C, {"order_id": "HX40318"}),
    ("my bank flagged HX68890 as suspicious and I'd rather just not go through with it. please cancel the order", C, {"order_id": "HX68890"}),
    ("The checkout page froze and I think I submitted twice. This one, HX24453, is the extra - please get rid of it.", C, {"order_id": "HX24453"}),
    ("Not needed anymore, the event got postponed to next year. Cancel HX77129 pls.", C, {"order_id": "HX77129"}),
    ("Sorry, new to online shopping. I don't want the order HX31806 now. Can you make it not happen?", C, {"order_id": "HX31806"}),
    ("Please halt HX89553 - we've decided to go with another supplier.", C, {"order_id": "HX89553"}),
    ("Hi, is it too late to cancel HX15670? Placed it this morning, nothing shipped yet.", C, {"order_id": "HX15670"}),

    # ---------------- change_address ----------------
    ("I'm moving to Lisbon next week, can the delivery for HX52407 go there instead?", A, {"order_id": "HX52407", "city": "Lisbon"}),
    ("Please change the shipping address on HX13866 - city should be Toronto.", A, {"order_id": "HX13866", "city": "Toronto"}),
    ("hi i put the wrong city on my order HX70284, it should go to New York not what i typed", A, {"order_id": "HX70284", "city": "New York"}),
    ("Hello, I will be staying with my sister in Buenos Aires for the summer. Could you redirect order HX38951 to her place? I'll send the full street address if needed.", A, {"order_id": "HX38951", "city": "Buenos Aires"}),
    ("HX61093 needs to go to Berlin. I relocated for work.", A, {"order_id": "HX61093", "city": "Berlin"}),
    ("Can you send HX27419 to my office in Kuala Lumpur instead of my home? Thanks!", A, {"order_id": "HX27419", "city": "Kuala Lumpur"}),
    ("moved to Mexico City last month, forgot to update my profile before ordering HX84605. pls fix the delivery address", A, {"order_id": "HX84605", "city": "Mexico City"}),
    ("Dear team, the delivery destination for order HX49172 must be changed to Cape Town. Kindly update it before dispatch.", A, {"order_id": "HX49172", "city": "Cape Town"}),
    ("uh oh i typed my old address on HX05538. new one is in Melbourne - can u change it", A, {"order_id": "HX05538", "city": "Melbourne"}),
    ("Please reroute HX90726 to Dublin, I won't be at my usual place for the next month.", A, {"order_id": "HX90726", "city": "Dublin"}),
    ("Hola, I need my order HX36285 to arrive in Madrid, not to the other address. Is possible?", A, {"order_id": "HX36285", "city": "Madrid"}),
    ("I'm relocating to Salt Lake City on Monday. Order HX72940 hasn't shipped, so please ship it to the new place.", A, {"order_id": "HX72940", "city": "Salt Lake City"}),
    ("Got a new job in Nairobi!! Can HX18304 be delivered there instead? I'll give the street once you confirm.", A, {"order_id": "HX18304", "city": "Nairobi"}),
    ("HX56817 - deliver to my parents' house in Osaka please, I'll be visiting them.", A, {"order_id": "HX56817", "city": "Osaka"}),
    ("Hi, small mistake on HX43590: the city is wrong. It should be San Francisco.", A, {"order_id": "HX43590", "city": "San Francisco"}),
    ("We've moved! Please update the delivery address on HX81452 to our new home in Warsaw.", A, {"order_id": "HX81452", "city": "Warsaw"}),
    ("Can I change where HX29063 gets shipped? I'm at university in Manchester now.", A, {"order_id": "HX29063", "city": "Manchester"}),
    ("Ship HX67734 to Rio de Janeiro please, it's my vacation rental address, I'll be there three weeks.", A, {"order_id": "HX67734", "city": "Rio de Janeiro"}),
    ("Good morning, I'd like order HX10589 delivered to Lyon rather than to my registered address. Thank you.", A, {"order_id": "HX10589", "city": "Lyon"}),
    ("my daughter is in Seoul for exchange year, I want HX94215 sent to her dorm there instead of me", A, {"order_id": "HX94215", "city": "Seoul"}),
    ("Address update needed for HX35827: new city is Hong Kong.", A, {"order_id": "HX35827", "city": "Hong Kong"}),
    ("i no longer live there!! HX58096 must go to Cairo", A, {"order_id": "HX58096", "city": "Cairo"}),
    ("Is it too late to redirect HX22671 to Austin? We just closed on a house there.", A, {"order_id": "HX22671", "city": "Austin"}),
    ("Hello, I'm not moving, but I'd prefer HX76248 go to my work address in Vancouver since nobody's home during the day.", A, {"order_id": "HX76248", "city": "Vancouver"}),
    ("Please amend delivery for order HX41935. New destination: Ho Chi Minh City.", A, {"order_id": "HX41935", "city": "Ho Chi Minh City"}),
    ("Change of plans - I'll be in Edinburgh for the festival. Can you send HX87310 there?", A, {"order_id": "HX87310", "city": "Edinburgh"}),
    ("HX03762 wrong city sorry!! it's Auckland", A, {"order_id": "HX03762", "city": "Auckland"}),
    ("Kindly change the delivery address for order HX65429 to Bangalore. I have shifted there recently.", A, {"order_id": "HX65429", "city": "Bangalore"}),
    ("My boyfriend and I split up so I'm back in Stockholm. Please don't send HX19847 to the old flat, send it here.", A, {"order_id": "HX19847", "city": "Stockholm"}),
    ("Could the courier bring HX53108 to Tel Aviv instead? I'm staying with family over the holidays.", A, {"order_id": "HX53108", "city": "Tel Aviv"}),
    ("hi can i switch the delivery on HX80631 to São Paulo? moving back home", A, {"order_id": "HX80631", "city": "São Paulo"}),
    ("Order HX27956: I entered my billing address as shipping by mistake. It needs to go to Rome.", A, {"order_id": "HX27956", "city": "Rome"}),
    ("Please send HX44683 to Los Angeles. Same recipient name, different city, I'll message the street and zip.", A, {"order_id": "HX44683", "city": "Los Angeles"}),
    ("Hey, instead of the address currently on HX91204 can you point it at Chicago? That's where I'm at now.", A, {"order_id": "HX91204", "city": "Chicago"}),
    ("Good afternoon. We have moved our studio to Montreal. Please ensure order HX36057 is delivered to the new premises.", A, {"order_id": "HX36057", "city": "Montreal"}),
    ("My company transferred me to Zurich. HX62719 hasn't shipped - can you update the destination?", A, {"order_id": "HX62719", "city": "Zurich"}),
    ("HX08492 needs to go to Kraków, not the address on file. Thanks a lot!", A, {"order_id": "HX08492", "city": "Kraków"}),
    ("Hi, I would like to receive my parcel HX75560 in Hamburg where I study, not at my parents.", A, {"order_id": "HX75560", "city": "Hamburg"}),
    ("can u deliver HX17638 to Prague instead, i'm there for work", A, {"order_id": "HX17638", "city": "Prague"}),
    ("I'm spending the winter in Abu Dhabi. Please update HX59284 so it goes there.", A, {"order_id": "HX59284", "city": "Abu Dhabi"}),
    ("Quick fix on HX83927: the destination should read Las Vegas, my current residence.", A, {"order_id": "HX83927", "city": "Las Vegas"}),
    ("Hello! Friend's wedding in Santa Fe, I'll be there for two weeks and want HX24170 to meet me there.", A, {"order_id": "HX24170", "city": "Santa Fe"}),
    ("Please change the delivery city on HX66815 to Kansas City. Street and zip code will follow by email.", A, {"order_id": "HX66815", "city": "Kansas City"}),
    ("i got transfered to St. Louis and need HX31462 shipped to my new apartment there", A, {"order_id": "HX31462", "city": "St. Louis"}),
    ("Could you please change the shipping destination of HX79023 to Porto Alegre? Thank you very much.", A, {"order_id": "HX79023", "city": "Porto Alegre"}),
    ("Please redirect HX50397 to Amsterdam.", A, {"order_id": "HX50397", "city": "Amsterdam"}),
    ("I'm moving in with my partner in Brisbane next week, so HX85261 should be delivered to her place. Thanks", A, {"order_id": "HX85261", "city": "Brisbane"}),
    ("The address on HX12908 is outdated. I'm living in Calgary now, please update it before it ships.", A, {"order_id": "HX12908", "city": "Calgary"}),
    ("HX47351 - please deliver to my hotel in Istanbul. I'll be there until the 20th.", A, {"order_id": "HX47351", "city": "Istanbul"}),
    ("Bonjour! I have move to Marseille, please my order HX68174 send to the new address.", A, {"order_id": "HX68174", "city": "Marseille"}),

    # ---------------- refund_order ----------------
    # damaged
    ("The vase in HX30815 arrived smashed into pieces. I'd like my money back please.", R, {"order_id": "HX30815", "reason": "damaged"}),
    ("hi, my headphones from HX71642 don't work at all, left side is dead out of the box. refund please", R, {"order_id": "HX71642", "reason": "damaged"}),
    ("Box for HX15293 was crushed and the monitor screen is cracked. I want a refund, not a replacement.", R, {"order_id": "HX15293", "reason": "damaged"}),
    ("Order HX88406 came today and the kettle leaks from the bottom the very first time I used it. Please refund.", R, {"order_id": "HX88406", "reason": "damaged"}),
    ("Dear Sir or Madam,\n\nThe dining chairs delivered under order HX42319 have a broken leg and deep scratches on the seat. I request a full refund.\n\nYours faithfully,\nP. Lindqvist", R, {"order_id": "HX42319", "reason": "damaged"}),
    ("got HX09574 and the glass was shattered. pics attached. money back pls", R, {"order_id": "HX09574", "reason": "damaged"}),
    ("The phone case I got (HX63781) is cracked down the middle, clearly defective. I'd like to be reimbursed.", R, {"order_id": "HX63781", "reason": "damaged"}),
    ("The toy from HX26930 won't turn on even with new batteries. My son was so disappointed. Can I get a refund?", R, {"order_id": "HX26930", "reason": "damaged"}),
    ("my order HX57148 arrive broken. the plate all in pieces. i want money return", R, {"order_id": "HX57148", "reason": "damaged"}),
    ("HX94023 - zipper ripped off the first time I opened the bag. Poor quality. Refund.", R, {"order_id": "HX94023", "reason": "damaged"}),
    ("The package for HX38672 was soaking wet when it arrived and the book inside is ruined. Please refund me.", R, {"order_id": "HX38672", "reason": "damaged"}),
    ("I moved house last week and this arrived at the new place with the lid of the cooler snapped off. HX20457. Refund please.", R, {"order_id": "HX20457", "reason": "damaged"}),
    ("Hello, the lamp in order HX79815 flickers and then dies, seems faulty. I'd like a refund.", R, {"order_id": "HX79815", "reason": "damaged"}),
    ("Received HX46108 - laptop stand bent and one screw hole stripped. Not usable. I want my money back.", R, {"order_id": "HX46108", "reason": "damaged"}),
    # late
    ("HX61270 finally showed up, 3 weeks after the date you promised. The party was last weekend so it's useless now. Refund please.", R, {"order_id": "HX61270", "reason": "late"}),
    ("The costume arrived the day AFTER Halloween. Order HX17853. Please refund me.", R, {"order_id": "HX17853", "reason": "late"}),
    ("I paid for next-day delivery on HX83490 and it took 6 days. I'd like my money back for the order.", R, {"order_id": "HX83490", "reason": "late"}),
    ("My order HX35612 was supposed to come before my trip. It came after I left, my neighbor took it in. I don't need it anymore, please give me a refund because it was late.", R, {"order_id": "HX35612", "reason": "late"}),
    ("hi the flowers HX92741 arrived 4 days late and the anniversary was over. refund pls", R, {"order_id": "HX92741", "reason": "late"}),
    ("Your delivery was so slow (HX04958) that I already bought the same thing in a shop. I want a refund for yours. It's here now, unopened.", R, {"order_id": "HX04958", "reason": "late"}),
    ("HX58263 got here two weeks past the estimated date. That's unacceptable, refund me.", R, {"order_id": "HX58263", "reason": "late"}),
    ("Good morning. Order HX27391 was delivered well after the guaranteed delivery date, and the items are no longer of use to us. We request a refund.", R, {"order_id": "HX27391", "reason": "late"}),
    ("christmas gifts (HX69514) came on dec 29. kinda pointless now. can i get my money back?", R, {"order_id": "HX69514", "reason": "late"}),
    ("The school supplies in HX13286 turned up a month after term started. Please refund.", R, {"order_id": "HX13286", "reason": "late"}),
    ("I know it's maybe not your fault, but HX85027 arrived way too late for the conference. Still, I'd like a refund.", R, {"order_id": "HX85027", "reason": "late"}),
    ("Order HX40679 finally arrived yesterday, 10 days overdue. Requesting a refund due to the delay.", R, {"order_id": "HX40679", "reason": "late"}),
    # wrong_item
    ("I ordered a blue sweater and got a pink one. HX52146. Please refund.", R, {"order_id": "HX52146", "reason": "wrong_item"}),
    ("HX76398 - opened the box and it's a completely different product, a toaster instead of the coffee grinder I bought. I want a refund.", R, {"order_id": "HX76398", "reason": "wrong_item"}),
    ("you sent me size 6 shoes, I ordered size 9. order HX11724. just refund it, I don't want to wait for an exchange", R, {"order_id": "HX11724", "reason": "wrong_item"}),
    ("The package for HX64815 contained someone else's order - kids' clothes, and I ordered a drill. Refund please.", R, {"order_id": "HX64815", "reason": "wrong_item"}),
    ("hello i receive the wrong phone model in HX29357, i order the 128GB and get the 64GB. please refund me", R, {"order_id": "HX29357", "reason": "wrong_item"}),
    ("HX87592 arrived with the wrong book, totally different title on the cover. Money back please.", R, {"order_id": "HX87592", "reason": "wrong_item"}),
    ("Dear support, Order HX03164 should have been a set of four wine glasses; instead we received two coffee mugs. Please issue a refund.", R, {"order_id": "HX03164", "reason": "wrong_item"}),
    ("lol you sent me cat food, I don't have a cat. I ordered dog food. HX48530. refund?", R, {"order_id": "HX48530", "reason": "wrong_item"}),
    ("I got a charger for a different laptop brand in HX95741, not the one listed on my order. Refund please.", R, {"order_id": "HX95741", "reason": "wrong_item"}),
    ("Received HX32087 today, but the item isn't what I ordered - it's the 'deluxe' version in black instead of the standard white one. I'd like a refund.", R, {"order_id": "HX32087", "reason": "wrong_item"}),
    ("Order HX70613 - the label on the box matches, but inside is a completely different perfume than what I paid for. Refund requested.", R, {"order_id": "HX70613", "reason": "wrong_item"}),
    ("My order HX16948 was supposed to be a 2-pack of pillows, I only got a duvet cover. Not what I bought at all, please refund.", R, {"order_id": "HX16948", "reason": "wrong_item"}),
    # other
    ("Received HX53819 last week and honestly I just don't like it. Changed my mind, can I get a refund?", R, {"order_id": "HX53819", "reason": "other"}),
    ("My sister already gave me the same book as a gift, so I don't need the one from HX81306. It's unopened. Refund please.", R, {"order_id": "HX81306", "reason": "other"}),
    ("HX24795 arrived fine and on time but it doesn't fit in my kitchen like I hoped. I'd like a refund.", R, {"order_id": "HX24795", "reason": "other"}),
    ("I was charged twice for HX67052. Only one parcel came. Please refund the extra charge.", R, {"order_id": "HX67052", "reason": "other"}),
    ("The colour looks nothing like the photos online for HX39418. It's the right item, just ugly in person. Refund?", R, {"order_id": "HX39418", "reason": "other"}),
    ("hi, bought HX90261 as a gift but the person moved away before i could give it to them. can i return it for a refund?", R, {"order_id": "HX90261", "reason": "other"}),
    ("The jacket from HX12570 is fine but too warm for where I live, should have thought about it. Would like a refund.", R, {"order_id": "HX12570", "reason": "other"}),
    ("Hello, I found the same item 40% cheaper locally after HX45983 was delivered. Can you refund me? I'll send it back.", R, {"order_id": "HX45983", "reason": "other"}),
    ("Order HX78136 was delivered and it's all in good condition, but I've realised I don't need it. Requesting a refund under your 30-day policy.", R, {"order_id": "HX78136", "reason": "other"}),
    ("I'm not happy with HX06427. Nothing's broken, it's just uncomfortable to wear. I want my money back.", R, {"order_id": "HX06427", "reason": "other"}),
    ("My husband ordered HX59630 without telling me and we really can't afford it right now. It's arrived, unopened - please refund.", R, {"order_id": "HX59630", "reason": "other"}),
    ("Hi! HX34208 arrived perfectly, but the recipient already owns one. Can I get my money back?", R, {"order_id": "HX34208", "reason": "other"}),
]

# ---- validation ----
tool_names = {t["name"]: t for t in TOOLS}
assert len(ROWS) == 200
cnt = collections.Counter(r[1] for r in ROWS)
assert all(cnt[n] == 50 for n in tool_names), cnt
assert len({r[0] for r in ROWS}) == 200
ids = [r[2]["order_id"] for r in ROWS]
assert len(set(ids)) == 200
cities = set()
for text, name, args in ROWS:
    assert set(args) == set(tool_names[name]["parameters"]["required"]), (text, args)
    assert re.fullmatch(r"HX\d{5}", args["order_id"])
    assert re.findall(r"HX\d+", text) == [args["order_id"]], text
    if name == A:
        assert args["city"] in text, text
        cities.add(args["city"])
    if name == R:
        assert args["reason"] in ("damaged", "late", "wrong_item", "other")
assert len(cities) >= 10 and sum(" " in c for c in cities) >= 3

rows = [{"text": t, "tools": TOOLS, "tool_call": {"name": n, "arguments": a}} for t, n, a in ROWS]
random.Random(20261204).shuffle(rows)
with OUT.open("w") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print("ok", dict(cnt), "cities", len(cities),
      "reasons", dict(collections.Counter(a["reason"] for _, n, a in ROWS if n == R)))
