"""
csv_reference.py — the same 999-row CSV as bench_sheet.c read by Python's csv
module (tokenising only, no validation), as an outside reference.
"""
import csv
import io
import time

ratios = ["1:1", "16:9", "9:16", "4:3", "3:4", "2:3"]
styles = ["auto", "general", "realistic", "design", "3d", "anime"]
lines = ["prompt,visibility,aspect_ratio,magic_prompt,model,seed_number,rendering,"
         "negative_prompt,style,color_palette,num_images"]
for i in range(999):
    lines.append('"Crème brûlée sticker number %d, with ""quotes"" and a comma",%s,%s,%s,2.0,%d,'
                 'turbo,"blurry, low resolution, text",%s,%s,4'
                 % (i, "public" if i % 2 else "Private", ratios[i % 6], "on" if i % 3 else "off",
                    i * 7919, styles[i % 6], "#CBA324 #F86C14 #C71E71" if i % 4 else "pastel"))
data = ("\r\n".join(lines) + "\r\n").encode()
t0 = time.monotonic()
runs = rows = 0
while True:
    rows += sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8")))) - 1
    runs += 1
    t = time.monotonic() - t0
    if t >= 2.0:
        break
print("python csv module\t%.0f rows/s\t%.1f MB/s\t(%d bytes, %d runs)"
      % (rows / t, len(data) * runs / t / 1e6, len(data), runs))
