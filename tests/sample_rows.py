"""Small GSM8K rows written for the tests (shared by the loader and CLI tests)."""

GSM8K_ROWS = [
    {"question": "Tom has 3 apples and buys 4 more. How many apples does he have?",
     "answer": "Tom has 3+4 = <<3+4=7>>7 apples.\n#### 7"},
    {"question": "Ann has 10 pens and gives 2 away. How many pens are left?",
     "answer": "Ann has 10-2 = <<10-2=8>>8 pens left.\n#### 8"},
    {"question": "A book costs $12 and a pen costs $3. What do 2 books and 1 pen cost?",
     "answer": "Two books cost 2*12 = <<2*12=24>>24 dollars.\n"
               "With the pen it is 24+3 = <<24+3=27>>27 dollars.\n#### 27"},
    {"question": "A shop sells 1,000 cups a day for 3 days. How many cups does it sell?",
     "answer": "It sells 1000*3 = <<1000*3=3000>>3000 cups.\n#### 3,000"},
]
