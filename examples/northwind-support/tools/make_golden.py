"""Regenerate data/golden.jsonl: the fictional Northwind Outfitters' past support replies.

Northwind is invented, so its history is too: each topic below holds tickets
written the way customers write (terse, chatty, annoyed) and the replies the
support team sends, in the team's house style, with facts from ../kb. The
script is kept for provenance and is deterministic (fixed seed):

    python tools/make_golden.py > data/golden.jsonl
"""

from __future__ import annotations

import json
import random

NAMES = ["Alex", "Maria", "Jamal", "Priya", "Tom", "Keiko", "Luis", "Hannah", "Omar", "Grace", "Dmitri",
         "Sofia", "Ben", "Aisha", "Carlos", "Emma", "Raj", "Chloe", "Mateo", "Nora", "Ethan", "Yuki", "Sam",
         "Fatima", "Liam", "Zoe", "Noah", "Isla", "Diego", "Mia", "Owen", "Leila", "Finn", "Ava", "Kai", "Ruth"]

CLOSINGS = [
    "If there's anything else we can help with, just reply to this email.",
    "Let us know if you have any other questions. We're always happy to help.",
    "If anything else comes up, we're here seven days a week.",
]

# topic -> (tickets, replies, slot values). {order}, {name} and slot names are filled per row.
TOPICS: dict[str, dict[str, list[str] | dict[str, list[str]]]] = {
    "return-window": {
        "tickets": [
            "Hi, I bought a {item} about {weeks} weeks ago and never used it. Can I still return it? Order {order}.",
            "Is it too late to send back a {item}? Still has the tags on. Bought it {weeks} weeks ago.",
            "how long do i have to return stuff? got a {item} that i don't need anymore, order {order}",
            "Hello! My {item} doesn't work for me and I'd like a refund. It's unused. How do I return it?",
        ],
        "replies": [
            "Good news: unused items in their original condition can be returned within 60 days of delivery for a full refund, so your {item} still qualifies. Start the return from the Orders page of your account to print a prepaid label. Return shipping is free for Trailhead Rewards members and $6.95 otherwise, or you can drop it off at any Northwind store for free. Your refund goes back to your original payment method within 5 to 7 business days after it reaches our warehouse.",
            "You're well within our window: unused items can come back within 60 days of delivery for a full refund. Head to the Orders page, choose Return next to the {item}, and print the prepaid label. If you're a Trailhead Rewards member the label is free; otherwise $6.95 is deducted from the refund. Once the return reaches our warehouse, the refund lands on your original payment method within 5 to 7 business days.",
        ],
        "slots": {"item": ["rain jacket", "daypack", "fleece pullover", "pair of trail runners", "sleeping pad",
                           "camp chair", "headlamp", "insulated vest"], "weeks": ["3", "5", "6", "4"]},
    },
    "used-return": {
        "tickets": [
            "I took my {item} on one trip and the {part} already broke. Can I return it even though it's been used?",
            "Used my new {item} twice and the {part} failed. Order {order}. What are my options?",
            "My {item} fell apart on its first outing ({part}). I've had it about 3 weeks. Refund?",
        ],
        "replies": [
            "I'm sorry your {item} let you down so soon. Used items can be returned within 30 days when they're defective, so you can send it back for a full refund. If you'd rather keep it, the Northwind Guarantee covers defects in materials and workmanship for the life of the product, and we'll repair or replace it for free. Just send us a couple of photos of the {part} and your order number, and we'll email you a prepaid label.",
            "That's not the experience we want you to have. Because the {part} failed within 30 days, you can return the used {item} for a full refund. Alternatively, our lifetime Northwind Guarantee covers defects like this, and we can repair or replace it at no cost. Reply with photos of the {part} and your order number and we'll send a prepaid shipping label right away.",
        ],
        "slots": {"item": ["tent", "backpack", "rain jacket", "hiking boots", "trekking poles"],
                  "part": ["zipper", "buckle", "seam", "strap", "lock"]},
    },
    "refund-timing": {
        "tickets": [
            "I mailed back my return a week ago. When will I see the refund? Order {order}.",
            "Where's my refund?? Sent the {item} back {days} days ago.",
            "Hi there, just checking on a refund for order {order}. Tracking says you received it.",
        ],
        "replies": [
            "Refunds are issued once a return reaches our warehouse and go back to your original payment method within 5 to 7 business days after that. I checked order {order}, and your {item} was received, so the refund is on its way. Depending on your bank, it may take a few more days to show on your statement. If you paid with a gift card, the refund arrives as a new digital gift card by email.",
            "Thanks for your patience. Once the warehouse receives a return, refunds are processed to the original payment method within 5 to 7 business days. Your {item} from order {order} has arrived, so you should see the credit within that window. Purchases paid with a gift card are refunded as a new digital gift card instead.",
        ],
        "slots": {"item": ["jacket", "tent", "pair of boots", "backpack", "sleeping bag"], "days": ["8", "10", "12"]},
    },
    "exchange-size": {
        "tickets": [
            "The {item} I ordered is too {fit}. Can I swap it for a different size? Order {order}.",
            "Need a {size} instead of the one I got. How do exchanges work?",
            "hey, my {item} is too {fit}, want to exchange, do I have to pay shipping again?",
        ],
        "replies": [
            "Happy to help you get the right fit. Unused items can be exchanged for a different size or color within 60 days, and exchanges ship free both ways. Choose Exchange next to the {item} on the Orders page and print the prepaid label. We ship your new size as soon as the carrier scans your return, so you don't have to wait for it to reach our warehouse. If your size is out of stock, we'll refund you instead and email you when it's back.",
            "Exchanges are easy and free in both directions. On the Orders page, pick Exchange for the {item}, select the new size, and print the prepaid label. Your replacement ships as soon as the carrier scans the package you send back. This works for unused items within 60 days of delivery, and if the size you need is sold out we issue a full refund instead.",
        ],
        "slots": {"item": ["fleece", "rain jacket", "pair of hiking pants", "base layer", "down jacket"],
                  "fit": ["small", "big", "tight", "long"], "size": ["medium", "large", "small"]},
    },
    "final-sale": {
        "tickets": [
            "I want to return a {item} I got on sale but the site won't let me. Order {order}.",
            "Why can't I return my Last Chance {item}? It doesn't fit.",
            "The return button is greyed out for my {item}. What gives?",
        ],
        "replies": [
            "I understand the frustration. The {item} was a Last Chance item, which is final sale: Last Chance items can't be returned, exchanged or price adjusted, and the label appears on the product page, in the cart and on the packing slip. The good news is that the Northwind Guarantee still covers Northwind-brand Last Chance items against manufacturing defects, so if anything goes wrong with it, we'll take care of it.",
            "Your {item} was sold as a Last Chance item, and those are final sale, so they can't be returned or exchanged. I know that's disappointing when something doesn't fit. If it's a Northwind-brand product, it's still covered by the Northwind Guarantee against defects in materials and workmanship.",
        ],
        "slots": {"item": ["puffy jacket", "pair of gloves", "duffel bag", "softshell", "sun hoodie"]},
    },
    "shipping-cost": {
        "tickets": [
            "How much is shipping? My cart is ${total}.",
            "Do you have free shipping? Ordering a {item}.",
            "What are your shipping options and how fast is standard?",
            "Need my {item} by Friday, what are my options?",
        ],
        "replies": [
            "Standard shipping arrives in 3 to 6 business days and is free on orders over $75; below that it's $5.95. If you need it sooner, Expedited shipping arrives in 2 business days for $14.95, and Overnight is $29.95 when you order by 1 p.m. Eastern Time on a business day. All orders ship Monday through Friday from our distribution center in Reno.",
            "We have three options. Standard takes 3 to 6 business days and is free over $75 ($5.95 otherwise). Expedited arrives in 2 business days for $14.95. Overnight costs $29.95, and orders placed by 1 p.m. Eastern on a business day ship the same day, so for a tight deadline that's your best bet. Overnight isn't available to P.O. boxes, Alaska or Hawaii.",
        ],
        "slots": {"total": ["62", "48", "90", "120"], "item": ["tent", "rain shell", "pair of boots", "stove"]},
    },
    "international": {
        "tickets": [
            "Do you ship to {country}? And will I have to pay customs when it arrives?",
            "Ordering from {country}. How long does delivery take and what does it cost?",
            "Can you send a {item} to {country}?",
        ],
        "replies": [
            "Yes, we ship to {country}, along with the rest of Canada, the UK, the EU and Australia. International orders arrive in 7 to 14 business days, and shipping is a flat $24.95, free on orders over $200. Duties and import taxes are calculated at checkout and paid up front, so nothing is due on delivery. One note: we can't ship fuel canisters, bear spray or knives internationally.",
            "We do ship to {country}. Delivery takes 7 to 14 business days for a flat $24.95, and it's free once your order is over $200. Duties and taxes are paid at checkout, so there are no surprises at the door. Fuel canisters, bear spray and knives are the exceptions we can't send abroad.",
        ],
        "slots": {"country": ["Canada", "Germany", "the UK", "Australia", "France", "Ireland"],
                  "item": ["tent", "rain jacket", "backpack"]},
    },
    "cancel-order": {
        "tickets": [
            "I just placed order {order} by mistake, please cancel it!",
            "Can I cancel my order? Placed it this morning. {order}",
            "Need to cancel {order}, ordered the wrong {item}.",
        ],
        "replies": [
            "Orders can be cancelled from the Orders page within 1 hour of placing them. After that, the order is sent to our warehouse and can no longer be cancelled. If order {order} is past that window, no problem: once it arrives, you can return the {item} within 60 days for a full refund, or drop it off at any Northwind store for free.",
            "You can cancel an order yourself within 1 hour of placing it from the Orders page. Once an hour has passed, it's already with the warehouse and can't be stopped, but you can return the {item} after delivery. Unused items can come back within 60 days, and in-store returns are always free.",
        ],
        "slots": {"item": ["size", "color", "jacket", "tent", "boots"]},
    },
    "change-address": {
        "tickets": [
            "I put the wrong shipping address on order {order}. Can you change it?",
            "Moving next week, can you update the address on my order {order}?",
            "Typo in my address!! order {order}",
        ],
        "replies": [
            "We can change the address as long as the order hasn't been packed, which usually happens within 2 hours. Please reply with the new address and I'll update order {order} right away. If it has already shipped, we can ask the carrier to redirect the package, though that isn't always successful.",
            "Address changes are possible until an order is packed, usually within 2 hours of ordering. Send us the corrected address for order {order} and we'll update it. If the package is already on its way, we'll request a redirect from the carrier, which works in many but not all cases.",
        ],
        "slots": {},
    },
    "tracking": {
        "tickets": [
            "My tracking number for {order} hasn't updated in days. Is my package lost?",
            "Tracking still says label created. Order {order}.",
            "where is my order {order}? tracking isn't moving",
        ],
        "replies": [
            "Tracking can take up to 24 hours to show its first scan. If your package hasn't moved for 5 business days, we'll open a trace with the carrier. I've looked at order {order}, and if there's no new scan by then, just reply and we'll start the trace and keep you posted. Orders with items from different warehouses can also arrive in separate packages, each with its own tracking number.",
            "Sorry for the worry. The first tracking scan can take up to 24 hours to appear, and carriers sometimes skip scans along the way. If order {order} shows no movement for 5 business days, we open a trace with the carrier for you. You can always see every tracking number for your order on the Orders page.",
        ],
        "slots": {},
    },
    "lost-package": {
        "tickets": [
            "Tracking says delivered but there's nothing here. Order {order}.",
            "My package was stolen from my porch. What now?",
            "UPS claims they dropped off my {item} yesterday. Never got it.",
        ],
        "replies": [
            "I'm sorry, that's stressful. Packages are sometimes marked delivered a day early, so please wait 2 days after the delivery scan and check with neighbors or your mailroom. If it still hasn't turned up, let us know within 30 days of the delivery date and we'll file a claim with the carrier and reship your order at no cost. For future orders, you can add signature confirmation for $3 or choose free in-store pickup.",
            "That's frustrating, and we'll make it right. Carriers occasionally mark packages delivered early, so give it 2 days and check around with neighbors. If it's still missing after that, reply within 30 days of the delivery date and we'll file a carrier claim and reship your {item} for free, or refund it if it's out of stock.",
        ],
        "slots": {"item": ["order", "tent", "jacket", "boots"]},
    },
    "damaged": {
        "tickets": [
            "My {item} arrived damaged. The box was crushed. Order {order}.",
            "Received a {item} with a big tear in it. Brand new!",
            "The {item} showed up broken. Do I have to ship it back?",
        ],
        "replies": [
            "I'm so sorry your {item} arrived damaged. Please send us photos of the item and the packaging within 14 days of delivery. We'll ship a replacement right away with free expedited shipping, and there's no need to return the damaged one unless we ask for it.",
            "That's not how your {item} should arrive. Reply with a few photos of the damage and the box, within 14 days of delivery, and we'll send a replacement with free expedited shipping. You don't need to send the damaged item back unless we specifically ask.",
        ],
        "slots": {"item": ["stove", "water filter", "lantern", "tent", "cooler"]},
    },
    "wrong-item": {
        "tickets": [
            "I ordered a {item} in {size} and got the wrong size. Order {order}.",
            "You sent me the wrong item, I got a {other} instead of my {item}.",
        ],
        "replies": [
            "Sorry about the mix-up! We'll send the correct {item} right away with free expedited shipping and email you a prepaid label for the one you received. Please send that back within 30 days.",
            "That's our mistake, and we'll fix it quickly. The correct {item} ships today with free expedited shipping, and we're emailing a prepaid label for the incorrect item. Just return it within 30 days.",
        ],
        "slots": {"item": ["rain jacket", "fleece", "pair of boots", "backpack"], "size": ["medium", "large", "small"],
                  "other": ["daypack", "vest", "pair of socks"]},
    },
    "warranty": {
        "tickets": [
            "My Northwind {item} is {years} years old and the {part} just failed. Is that covered?",
            "Does your warranty cover a {item} I bought in {year}? The {part} is coming apart.",
            "Lifetime guarantee question: my {item}'s {part} broke. I don't have the receipt anymore.",
        ],
        "replies": [
            "Every Northwind-brand product is guaranteed for its lifetime against defects in materials and workmanship, so a {part} that fails under normal use is covered. Send us photos of the problem with your order number or receipt, and we'll repair your {item} for free or replace it if a repair isn't possible. Claims without proof of purchase are reviewed case by case, so please send photos either way. Approved claims get a prepaid label to our repair center in Portland.",
            "Our Northwind Guarantee covers defects in materials and workmanship for the life of the product, whatever its age. A {part} failing under normal use qualifies, while normal wear and accidents don't. Reply with photos of your {item} and your order number or receipt; if you don't have proof of purchase we'll still review it case by case. Once approved, we'll email a prepaid label to our Portland repair center.",
        ],
        "slots": {"item": ["rain jacket", "backpack", "tent", "sleeping bag", "down jacket"],
                  "part": ["zipper", "seam tape", "buckle", "waterproof lining", "shoulder strap"],
                  "years": ["3", "5", "7", "2"], "year": ["2019", "2021", "2018"]},
    },
    "repair-paid": {
        "tickets": [
            "I ripped my {item} on a branch. Can you fix it and how much?",
            "Zipper on my {item} is worn out after years of use. Do you repair that?",
            "How long do repairs take? My {item} has a tear.",
        ],
        "replies": [
            "We'd be glad to fix it. Damage from wear or accidents is repaired for a flat fee: a zipper replacement is $25, patching a tear up to 3 inches is $15, and a new buckle is $10. We email a quote before starting any paid work. Repairs take 3 to 4 weeks from the day your {item} reaches our repair center in Portland; start on the Repairs page to get a shipping label.",
            "Our Portland repair center can take care of your {item}. Accidental damage and wear are repaired for a flat fee ($25 for a zipper, $15 for a tear up to 3 inches, $10 for a buckle), and you get a quote by email before any work begins. Expect 3 to 4 weeks from arrival. Start a repair on the Repairs page and we'll send a label.",
        ],
        "slots": {"item": ["rain shell", "backpack", "down jacket", "tent fly", "duffel"]},
    },
    "price-adjust": {
        "tickets": [
            "I bought a {item} last week and now it's ${cheaper} cheaper. Can I get the difference back? Order {order}.",
            "Price dropped on my {item} 3 days after I ordered. Refund the difference?",
            "Do you price match? I saw the {item} cheaper at {store}.",
        ],
        "replies": [
            "Yes! If the price of an item drops within 14 days of your purchase, we refund the difference once. I've applied the adjustment for your {item} on order {order}; the difference goes back to your original payment method within 3 business days. We also match the current price of an identical item sold and shipped by REI, Backcountry or Moosejaw.",
            "Happy to help here. We refund the difference once when our price drops within 14 days of purchase, and we match identical items sold and shipped by REI, Backcountry or Moosejaw, as long as they're in stock there. Price adjustments and matches don't apply to Last Chance items or marketplace and clearance prices. Send us the order number or the competitor link and we'll take care of your {item}.",
        ],
        "slots": {"item": ["tent", "down jacket", "backpack", "sleeping bag", "pair of boots"],
                  "cheaper": ["20", "35", "15", "50"], "store": ["REI", "Backcountry", "Moosejaw"]},
    },
    "promo-forgot": {
        "tickets": [
            "I forgot to use my promo code on order {order}. Can you still apply it?",
            "My code {code} isn't working at checkout.",
            "Can I use two promo codes on one order?",
        ],
        "replies": [
            "No problem. If you forgot a valid code, we can refund the discount within 7 days of your order to your original payment method. Just send us the code with order {order}. Keep in mind that only one promo code can be used per order, and codes can't be combined with the student or military discount.",
            "Promo codes are entered in the cart before checkout, one per order, and many exclude Last Chance items, gift cards and some brands, so check the terms in the email or ad that included the code. If a valid code didn't apply and your order is less than 7 days old, send us the code and order number and we'll refund the discount.",
        ],
        "slots": {"code": ["TRAIL15", "SUMMIT20", "CAMP10"]},
    },
    "gift-card": {
        "tickets": [
            "Do Northwind gift cards expire? I have one from {year}.",
            "Lost my gift card. Can you replace it?",
            "How do I check the balance on my gift card?",
        ],
        "replies": [
            "Northwind gift cards never expire and have no fees, so your card is still good online and in all our stores. You can check the balance on the Gift Cards page with the card number and PIN, or at any store. If a registered or digital card is lost, we can replace it with its remaining balance when you have the original receipt or order number.",
            "Good news: our gift cards never expire and carry no fees. Check the balance on the Gift Cards page using the card number and PIN, or ask at any store. We can also replace a lost registered or digital card with its remaining balance if you have the receipt or order number.",
        ],
        "slots": {"year": ["2019", "2020", "2022"]},
    },
    "rewards-points": {
        "tickets": [
            "I bought a {item} in store but forgot to scan my rewards card. Can I still get the points?",
            "How do Trailhead Rewards points work?",
            "My points from order {order} never showed up.",
            "What do I get with the Summit tier?",
        ],
        "replies": [
            "Trailhead Rewards members earn 1 point per dollar, and every 100 points becomes a $5 reward, issued on the first of the month and valid for 90 days. Points for a purchase appear within 48 hours, and in-store purchases made without scanning your card can be added within 30 days with the receipt. Members who spend $1,000 or more in a calendar year reach Summit tier and earn 2 points per dollar the next year.",
            "Points show up within 48 hours of a purchase. If you bought your {item} in store without scanning your member card, send us the receipt within 30 days and we'll add the points. As a reminder, you earn 1 point per dollar, and each 100 points turns into a $5 reward valid for 90 days. Spend $1,000 in a calendar year and you'll reach Summit tier with 2 points per dollar.",
        ],
        "slots": {"item": ["tent", "jacket", "backpack", "pair of boots"]},
    },
    "payment": {
        "tickets": [
            "Can I pay with {method}?",
            "Do you offer payment plans? Looking at a ${total} tent.",
            "There's a pending charge on my card for an order I cancelled.",
        ],
        "replies": [
            "We accept Visa, Mastercard, American Express, Discover, PayPal, Apple Pay, Google Pay and Northwind gift cards, but not checks or cryptocurrency. Orders of $100 or more can be split into four interest-free installments with Klarna, which decides on approval. If you see a pending charge after cancelling, that's a temporary authorization and your bank releases it within 3 to 5 business days.",
            "For orders of $100 or more you can pay in four interest-free installments with Klarna at checkout; Klarna handles the approval. We also take all major cards, PayPal, Apple Pay, Google Pay and Northwind gift cards. A pending charge on a cancelled order is only an authorization and disappears within 3 to 5 business days.",
        ],
        "slots": {"method": ["Apple Pay", "PayPal", "Bitcoin", "a check"], "total": ["450", "320", "600"]},
    },
    "pickup": {
        "tickets": [
            "Can I order online and pick up at the {city} store today?",
            "My friend is picking up my order {order}. Is that OK?",
            "How long will you hold my pickup order?",
        ],
        "replies": [
            "Yes! Choose Pick up in store at checkout. Items in stock at the {city} store are ready in 2 hours, and we email you when your order is ready. Pickup is always free. Bring your confirmation email and a photo ID, and someone else can collect it if you added their name at checkout. We hold pickup orders for 7 days before cancelling and refunding them automatically.",
            "Pickup orders are free and ready within 2 hours when the items are in stock. Bring your order confirmation and a photo ID; a friend can pick up for you if their name was added at checkout. We hold orders for 7 days, after which they're cancelled and refunded automatically.",
        ],
        "slots": {"city": ["Portland", "Denver", "Seattle", "Salt Lake City"]},
    },
    "store-hours": {
        "tickets": [
            "What time does the {city} store close on Sunday?",
            "Are you open on Thanksgiving?",
            "Where are your stores?",
        ],
        "replies": [
            "Our stores are open Monday to Saturday from 10 a.m. to 8 p.m. and Sunday from 11 a.m. to 6 p.m. local time, so the {city} store closes at 6 p.m. on Sunday. All stores close on Thanksgiving and December 25. You'll find us in Portland (Pearl District), Denver (LoDo), Seattle (Capitol Hill) and Salt Lake City (Sugar House).",
            "We have stores in Portland, Denver, Seattle and Salt Lake City. They're open 10 a.m. to 8 p.m. Monday through Saturday and 11 a.m. to 6 p.m. on Sunday, local time, and closed on Thanksgiving and December 25. Every store offers free pack fittings, online order pickup and returns.",
        ],
        "slots": {"city": ["Portland", "Denver", "Seattle", "Salt Lake City"]},
    },
    "rentals": {
        "tickets": [
            "Do you rent tents? Going camping for {days} days.",
            "How much to rent snowshoes in {city}?",
            "What happens if I damage a rental {item}?",
        ],
        "replies": [
            "We do! Our Denver, Seattle and Salt Lake City stores rent tents, backpacks, sleeping bags, snowshoes and avalanche beacons, with a 3-day minimum. A two-person tent is $18 per day, a backpack $12 and snowshoes $10. An optional $5 damage waiver covers accidental damage, and a credit card is required as a deposit. Reserve online up to 60 days ahead, pick up after 3 p.m. the day before your trip and return by noon the day after, at no extra charge.",
            "Rentals are available at our Denver, Seattle and Salt Lake City stores with a 3-day minimum: $18 per day for a two-person tent, $12 for a backpack, $10 for snowshoes. For $5 per rental, the optional damage waiver covers accidental damage to your {item}. You can reserve online up to 60 days ahead and get a free extra half day on each end of the trip.",
        ],
        "slots": {"days": ["4", "5", "3", "7"], "city": ["Denver", "Seattle", "Salt Lake City"],
                  "item": ["tent", "backpack", "sleeping bag"]},
    },
    "resole": {
        "tickets": [
            "Can you resole my Northwind {boot} boots? The tread is gone.",
            "How much is boot resoling and how long does it take?",
            "Do you resole trail runners?",
        ],
        "replies": [
            "We resole Northwind leather hiking boots, including your {boot}, with stitched or cemented Vibram soles. Resoling costs $89 including return shipping and takes 4 to 6 weeks; worn rands can be replaced for $20 more. Synthetic trail runners can't be resoled. It's best to resole when the lugs are worn flat, before the upper leather is damaged, and a boot can usually be resoled two or three times.",
            "Resoling Northwind leather boots costs $89, return shipping included, and takes 4 to 6 weeks. Replacing worn rands is an extra $20. We can't resole synthetic trail runners. Send them in when the lugs are worn flat, before the midsole or upper is damaged, so your {boot} boots can be resoled two or three times.",
        ],
        "slots": {"boot": ["Ridgeline", "Summit Trek", "Cascade"]},
    },
    "tent-pole": {
        "tickets": [
            "One of my tent poles snapped. Can I get a replacement? It's a {tent}.",
            "Stepped on my {tent} pole and cracked it, how much for a new one?",
            "Pole broke on day 2 of my trip, what do I do?",
        ],
        "replies": [
            "Poles that break under normal use on a Northwind tent are replaced free under the Northwind Guarantee. If the pole broke in an accident, in wind without guy-lines or from being stepped on, a replacement costs $15 per segment or $45 for a full pole. Email us your {tent} model and the color code printed on the pole, and it ships in 3 to 5 business days. In the meantime, the repair sleeve that came with your tent will get you through a trip.",
            "Sorry about the pole! For a quick fix, slide the repair sleeve that ships with every Northwind tent over the break and tape both ends. Replacement poles are free when they break under normal use; accidental breaks are $15 per segment or $45 for a full pole. Send us the {tent} model and the color code on the pole and we'll ship it within 3 to 5 business days.",
        ],
        "slots": {"tent": ["Basecamp 4", "Skyline 2", "Ridge UL 1", "Meadow 3"]},
    },
    "tent-care": {
        "tickets": [
            "Can I put my tent in the washing machine? It smells musty.",
            "How should I store my tent over winter?",
            "My tent has mildew spots, is that covered under warranty?",
        ],
        "replies": [
            "Please never machine wash or machine dry a tent. Clean it by hand with lukewarm water, a sponge and a non-detergent soap, then air dry it completely, ideally set up at home. Storing a damp tent causes mildew and breaks down the waterproof coating, which unfortunately isn't covered by the Northwind Guarantee. Store it loosely in a cool, dry place rather than in the stuff sack.",
            "The key is to dry your tent completely before storing it, ideally by setting it up at home, and to keep it loosely packed in a cool, dry place instead of the stuff sack. Mildew from storing a tent damp isn't covered by the Northwind Guarantee. To clean it, hand wash with lukewarm water and a non-detergent soap; never use a washing machine or dryer.",
        ],
        "slots": {},
    },
    "down-care": {
        "tickets": [
            "How do I wash my down {item}? It's gotten flat.",
            "Can I use regular detergent on a down {item}?",
            "My down {item} is clumpy after washing, help!",
        ],
        "replies": [
            "Wash your down {item} in a front-loading machine on a gentle cycle with a down-specific cleaner; regular detergent and fabric softener strip the oils that let down loft. Then tumble dry on low heat with two or three clean tennis balls or dryer balls to break up clumps. It takes two to three hours, and the {item} must be completely dry before you store it.",
            "Clumps usually mean the down isn't fully dry yet. Tumble dry your {item} on low heat with two or three tennis balls or dryer balls for two to three hours until it's completely dry and lofty again. Next time, wash it in a front-loader on a gentle cycle with a down-specific cleaner, never regular detergent or fabric softener.",
        ],
        "slots": {"item": ["jacket", "sleeping bag", "vest", "parka"]},
    },
    "dwr": {
        "tickets": [
            "My rain jacket isn't beading water anymore. Is it broken?",
            "Water soaks into the outside of my {jacket} shell. What should I do?",
            "My {jacket} leaks at the seams after 2 years. Warranty?",
        ],
        "replies": [
            "Your jacket is probably fine. The durable water repellent (DWR) finish makes water bead, and it wears with use. Wash the jacket with a technical wash, then tumble dry on medium heat for 20 minutes to reactivate the finish. When heat no longer helps, usually after 20 to 30 washes, reapply a spray-on or wash-in DWR treatment. If water gets through at the seams or you see bubbling inside, that's a membrane failure covered by the Northwind Guarantee.",
            "Water soaking into the outer fabric means the DWR finish needs attention, not that your {jacket} is broken. Wash it with a technical wash and tumble dry on medium heat for 20 minutes to reactivate it, and reapply a DWR treatment after 20 to 30 washes. Leaks through the seams or bubbling inside point to a failed membrane, which our Northwind Guarantee covers, so send us photos if that's what you see.",
        ],
        "slots": {"jacket": ["Stormline", "Cloudburst", "Cascade"]},
    },
    "sleeping-bag": {
        "tickets": [
            "Is the Alpine {rating} warm enough for {temp}°F nights?",
            "What's the difference between comfort and lower limit on your bags?",
            "Which sleeping bag for winter camping around {temp}°F?",
        ],
        "replies": [
            "Our bags are rated to ISO 23537. The comfort rating is the lowest temperature at which a typical cold sleeper stays comfortable, while the lower limit is for a typical warm sleeper curled up. The number in the name is the lower limit, so the Alpine {rating} is rated to {rating}°F at its lower limit. Choose a bag whose comfort rating is at or below the coldest night you expect, and below freezing bring a sleeping pad with an R-value of 4 or more.",
            "Pick a bag whose comfort rating is at or below your coldest expected night of {temp}°F. The number in our bag names is the lower limit, the ISO 23537 rating for a warm sleeper curled up, so the comfort rating is several degrees warmer. Also bring a pad with an R-value of 4 or more for nights below freezing, since a bag can't make up for cold ground.",
        ],
        "slots": {"rating": ["20", "35", "0"], "temp": ["25", "30", "15", "40"]},
    },
    "recall": {
        "tickets": [
            "I have a Trailblaze stove I bought in {month} 2025. Is it part of the recall?",
            "Got an email about a stove recall. I don't have the receipt. What do I do?",
            "How do I send back the recalled Trailblaze stove?",
        ],
        "replies": [
            "Thank you for checking. We've recalled the Trailblaze Canister Stove sold between March and August 2025 because the fuel valve can leak, so please stop using it right away. You'll receive a full refund or a free replacement stove, even without a receipt. Request a prepaid recall label from us or bring the stove to any store, and please don't ship it with a fuel canister attached.",
            "Please stop using the stove immediately: Trailblaze Canister Stoves sold from March to August 2025 are recalled because the fuel valve can leak. Every affected customer gets a full refund or a free replacement, with or without a receipt. Reply and we'll send a prepaid recall label, or drop the stove at any Northwind store. Just remove any fuel canister before shipping.",
        ],
        "slots": {"month": ["April", "June", "May", "July"]},
    },
    "fuel": {
        "tickets": [
            "Why can't I choose overnight shipping for my order with fuel canisters?",
            "Can I bring fuel canisters on a plane?",
            "Will your stove work with {brand} canisters?",
        ],
        "replies": [
            "Isobutane fuel canisters can only be shipped by ground within the contiguous United States, so orders with fuel can't be expedited or shipped internationally or to P.O. boxes. They also aren't allowed in checked or carry-on luggage, so buy fuel at your destination; all Northwind stores sell it. Our canister stoves fit all standard threaded EN 417 canisters, including {brand}.",
            "Fuel canisters travel by ground only and within the contiguous United States, which is why expedited options disappear when they're in your cart. They can't go on planes either, in checked or carry-on bags. The good news is that Northwind canister stoves fit any standard threaded EN 417 canister, like {brand}, so you can pick up fuel wherever you're headed.",
        ],
        "slots": {"brand": ["MSR", "Jetboil", "Coleman"]},
    },
    "pack-fit": {
        "tickets": [
            "I'm {height} tall, what size backpack do I need?",
            "How do I know my torso length for a pack?",
            "My new pack hurts my shoulders. Is it the wrong size?",
        ],
        "replies": [
            "Backpacks are sized by torso length rather than height. Measure from the bony bump at the base of your neck to the top of your hip bones: Small fits 15 to 17 inches, Medium 17 to 19 and Large 19 to 21. About 80 percent of the weight should sit on your hips, with the hip belt over the top of your hip bones. Every Northwind store offers free pack fittings with weighted sandbags, no appointment needed.",
            "Sore shoulders usually mean the hip belt isn't carrying enough of the load. About 80 percent of the weight should rest on your hips, with the belt over the top of your hip bones. Also check your torso length, measured from the base of your neck to the top of your hips: Small fits 15 to 17 inches, Medium 17 to 19, Large 19 to 21. Any Northwind store will do a free fitting with weighted sandbags.",
        ],
        "slots": {"height": ["5'6\"", "6'1\"", "5'10\"", "5'3\""]},
    },
    "sizing-jacket": {
        "tickets": [
            "I'm between a medium and a large in your {jacket}. Which should I get?",
            "Do your jackets run small? Want to wear a fleece under the {jacket}.",
            "What size base layer should I get, I'm usually a medium.",
        ],
        "replies": [
            "Northwind jackets are cut for layering. If you're between sizes, choose the larger size when you plan to wear a fleece or insulated layer underneath, and the smaller one for a trim fit over a base layer. Men's Medium fits a 38 to 40 inch chest and women's Medium a 35 to 37 inch bust; full size charts are on every product page. Merino base layers fit close and stretch with wear, so order your usual size.",
            "Since you want room for a fleece under your {jacket}, go with the larger size; our jackets are cut for layering, and the smaller size gives a trim fit over just a base layer. Measure your chest at the fullest point to compare with the size chart on the product page. And if the fit isn't right, exchanges for unused items are free within 60 days.",
        ],
        "slots": {"jacket": ["Stormline", "Cloudburst", "Ember Down", "Ridge Softshell"]},
    },
    "sizing-boots": {
        "tickets": [
            "Do your {boot} boots run true to size? I have wide feet.",
            "Should I size up for hiking boots?",
            "How long does it take to break in the {boot}?",
        ],
        "replies": [
            "Northwind hiking boots fit true to size with a medium-weight hiking sock. If you wear thick mountaineering socks or have wide feet, go up half a size; wide widths are also available for the Ridgeline and Summit Trek. Our leather boots need about 15 to 20 miles of easy walking to break in, while synthetic boots need little or none. Try them indoors first: boots worn only indoors can be returned within 60 days.",
            "Our {boot} boots fit true to size with a medium hiking sock, and going up half a size helps if you have wide feet or wear thick socks. Wide widths exist for the Ridgeline and Summit Trek. Plan on 15 to 20 miles of easy walking to break in leather boots. Wear them around the house first, since boots worn only indoors can still be returned within 60 days.",
        ],
        "slots": {"boot": ["Ridgeline", "Summit Trek", "Cascade"]},
    },
    "trade-in": {
        "tickets": [
            "Can I trade in my old Northwind {item}?",
            "How much credit do I get for trading in gear?",
            "Do you take used {other} for trade-in?",
        ],
        "replies": [
            "Yes! Through our Second Trail program you can trade in used Northwind gear in good condition at any store for a Northwind gift card. Excellent-condition items earn up to 40 percent of the current retail price in credit, and gear with visible wear up to 20 percent. Items need working zippers and buckles and no holes. We don't accept sleeping pads, helmets, harnesses, climbing ropes or other brands.",
            "Our Second Trail trade-in pays up to 40 percent of current retail in store credit for Northwind gear in excellent condition, and up to 20 percent for items with visible wear, as long as zippers and buckles work and there are no holes. Bring your {item} to any store. We can't accept sleeping pads, helmets, harnesses, climbing ropes or gear from other brands.",
        ],
        "slots": {"item": ["backpack", "tent", "fleece", "rain jacket"], "other": ["helmets", "climbing ropes", "sleeping pads"]},
    },
    "discount": {
        "tickets": [
            "Do you have a student discount?",
            "I'm a veteran, do you offer a military discount?",
            "Can I use my teacher discount with a promo code?",
        ],
        "replies": [
            "We do. Students, active and retired military, first responders and educators get 15 percent off full-price items. Verify once through ID.me on our Discounts page, and the discount then applies automatically when you're signed in; in stores, just show a valid ID. It can't be combined with promo codes or used on Last Chance items, gift cards or past orders.",
            "Thank you for asking! Our 15 percent discount for students, military, first responders and educators applies to full-price items after a one-time ID.me verification on the Discounts page, or with a valid ID in store. It can't be stacked with promo codes, and it doesn't apply to Last Chance items, gift cards or past orders.",
        ],
        "slots": {},
    },
    "corporate": {
        "tickets": [
            "We need {qty} fleeces with our company logo. Do you do bulk orders?",
            "Looking for a quote on {qty} rain jackets for our team.",
            "Can you embroider our logo on hats?",
        ],
        "replies": [
            "We'd love to outfit your team. Orders of 20 or more units of the same product get 10 percent off, and 100 or more get 15 percent off. We embroider logos on jackets, fleeces and hats for $8 per item plus a one-time $50 setup fee per design; embroidered items can't be returned. Email corporate@northwindoutfitters.com with the products, quantities and delivery date, and you'll have a quote within 2 business days. Custom orders take 3 to 4 weeks.",
            "For an order of {qty}, you'll qualify for our bulk pricing: 10 percent off 20 or more units of the same product, 15 percent off 100 or more. Logo embroidery is $8 per item with a one-time $50 setup fee per design. Send the details to corporate@northwindoutfitters.com and we'll quote within 2 business days; plan on 3 to 4 weeks for custom orders.",
        ],
        "slots": {"qty": ["25", "40", "120", "60"]},
    },
    "backorder": {
        "tickets": [
            "My {item} is backordered. When will I be charged?",
            "The estimated date on my pre-order keeps slipping. Can I cancel?",
            "Is shipping free on pre-orders?",
        ],
        "replies": [
            "Backordered items are charged only when they ship, and you can cancel them any time before then from the Orders page. Pre-orders are also charged when they ship and come with free standard shipping regardless of your order total. If an estimated date slips by more than 2 weeks, we email you and you can cancel without any charge.",
            "You won't be charged for your {item} until it ships, and you can cancel it from the Orders page any time before that. If the estimated date moves by more than 2 weeks, we'll email you and you're free to cancel at no cost. Pre-orders ship with free standard shipping regardless of the order total.",
        ],
        "slots": {"item": ["tent", "jacket", "stove", "backpack"]},
    },
    "privacy": {
        "tickets": [
            "Please delete my account and all my data.",
            "I'd like a copy of the personal data you have on me.",
            "How do I stop getting marketing emails?",
        ],
        "replies": [
            "You can request a copy of your data or its deletion by emailing privacy@northwindoutfitters.com from the address on your account, and we complete requests within 30 days. Deleting your data closes your account and forfeits unused Trailhead Rewards points; order records we must keep for tax purposes are retained for seven years. To stop marketing emails only, use the unsubscribe link or Account > Communication.",
            "We never sell customer data, and you're in control of it. Email privacy@northwindoutfitters.com from your account's address to request a copy or deletion; we finish requests within 30 days. Note that deletion closes the account and forfeits unused Trailhead Rewards points, and tax records are kept for seven years. If you just want fewer emails, the unsubscribe link works instantly.",
        ],
        "slots": {},
    },
    "account": {
        "tickets": [
            "I can't reset my password, the email never comes.",
            "How do I change the email on my account?",
            "I checked out as a guest. Can I still get rewards points for order {order}?",
        ],
        "replies": [
            "The reset link from Forgot password on the sign-in page is valid for 30 minutes. If it doesn't arrive within 10 minutes, check your spam folder. You can change your email under Account > Profile, and we send a confirmation to both addresses. Guest orders can be added to a new account with the same email within 90 days, and they earn Trailhead Rewards points once added.",
            "Guest orders like {order} can be added to a new account that uses the same email address within 90 days, and they earn Trailhead Rewards points once they're added. If the password reset email doesn't show up within 10 minutes, check your spam folder; the link is valid for 30 minutes.",
        ],
        "slots": {},
    },
    "ski-tune": {
        "tickets": [
            "How much is a ski tune at the {city} store?",
            "Can I get my snowboard waxed by tomorrow?",
            "Do you adjust bindings?",
        ],
        "replies": [
            "Our Denver and Salt Lake City stores tune skis and snowboards. A basic wax is $25, and a full tune with edge sharpening, base repair and hot wax is $49. Tunes are ready in 48 hours, or next day for a $15 rush fee during the season. Binding adjustments and release checks cost $30; please bring your ski boots.",
            "Yes, with our rush service: for $15 extra during the season (November to April), tunes are ready the next day instead of in 48 hours. A basic wax is $25 and a full tune is $49 at our Denver and Salt Lake City stores. We also do binding adjustments and release checks for $30 if you bring your boots.",
        ],
        "slots": {"city": ["Denver", "Salt Lake City"]},
    },
    "contact": {
        "tickets": [
            "What are your phone support hours?",
            "Is there a phone number I can call about order {order}?",
            "How fast do you answer emails?",
        ],
        "replies": [
            "You can reach us by email at help@northwindoutfitters.com, by chat on our website, or by phone at 1-800-555-0142. Phone and chat are open Monday to Friday from 7 a.m. to 7 p.m. Pacific and weekends from 8 a.m. to 4 p.m.; email is answered within 24 hours, seven days a week. Including your order number and photos for any damage helps us resolve things in one reply.",
            "Our phone line is 1-800-555-0142, open Monday to Friday 7 a.m. to 7 p.m. Pacific and 8 a.m. to 4 p.m. on weekends, the same hours as chat. Emails to help@northwindoutfitters.com get an answer within 24 hours, every day. Have your order number handy, the one starting with NW, so we can help right away.",
        ],
        "slots": {},
    },
    "gift-wrap": {
        "tickets": [
            "Can you gift wrap a {item} and hide the price?",
            "The {item} I got as a gift doesn't fit. Can I exchange it without the receipt?",
        ],
        "replies": [
            "Gift wrapping is available at checkout for $6 per item and includes a handwritten note; oversized items can't be wrapped. Add a gift receipt at checkout to hide the prices on the packing slip. With a gift receipt, the recipient can exchange the item or get a refund as a gift card within 60 days of delivery.",
            "With the gift receipt from the package, you can exchange the {item} or get a refund as a Northwind gift card within 60 days of delivery. If there was no gift receipt, send us the name of the person who ordered it and we'll look up the order. Gift wrap and gift receipts are added at checkout, with wrapping at $6 per item.",
        ],
        "slots": {"item": ["jacket", "backpack", "fleece", "pair of gloves"]},
    },
}

OPENERS = {
    "default": "Thanks for reaching out to Northwind Outfitters!",
    "apology": "Thanks for reaching out to Northwind Outfitters, and I'm sorry for the trouble.",
}
APOLOGY_TOPICS = {"used-return", "lost-package", "damaged", "wrong-item", "final-sale", "tracking", "tent-pole",
                  "recall", "refund-timing"}


def fill(template: str, values: dict[str, str]) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


def main() -> None:
    rng = random.Random(20261128)
    rows = []
    seen = set()
    for topic, spec in TOPICS.items():
        tickets, replies, slots = spec["tickets"], spec["replies"], spec["slots"]
        per_topic = 5 if len(tickets) >= 3 else 4
        made = 0
        attempts = 0
        while made < per_topic and attempts < 200:
            attempts += 1
            values = {k: rng.choice(v) for k, v in slots.items()}  # type: ignore[union-attr]
            values["order"] = f"NW{rng.randint(10_000_000, 99_999_999)}"
            name = rng.choice(NAMES)
            ticket = fill(rng.choice(tickets), values)  # type: ignore[arg-type]
            body = fill(rng.choice(replies), values)  # type: ignore[arg-type]
            key = (ticket, body)
            if key in seen:
                continue
            seen.add(key)
            opener = OPENERS["apology" if topic in APOLOGY_TOPICS else "default"]
            # the team greets customers by the name they signed with, and says "there" when they didn't sign
            signature = rng.choice(["", f"\n\n{name}", f"\n\nThanks,\n{name}", f"\n— {name}"])
            greeting = name if signature else "there"
            reply = f"Hi {greeting},\n\n{opener} {body}\n\n{rng.choice(CLOSINGS)}\n\nHappy trails,\nThe Northwind Support Team"
            rows.append({"id": f"{topic}-{made + 1}", "topic": topic, "ticket": ticket + signature, "reply": reply})
            made += 1
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
