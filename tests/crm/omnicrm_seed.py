# Steps 1, 2, 6 and 7 of the OmniCRM product guide (seed 004_ef40eb11172b53bd.txt), as
# printed there (indentation restored, which the seed's text lost). The test replaces
# only `crm_url` and the credentials before running it; nothing else may change.
import requests
import json

crm_url = 'https://crm.example.com/'
session = requests.Session()

headers = {
"Content-Type": "application/json"
}

# Obtener token de autenticación
response = session.post(crm_url + '/crm/auth/login', json={
"email": "admin@example.com",
"password": "your_password"
}, headers=headers)

assert response.status_code == 200
headers['Authorization'] = 'Bearer ' + response.json()['token']
print("Autenticación en CRM OK")

inventory_list_new = []

# Definir plantilla de inventario de tarjeta SIM
inventory_list_new.append({
"item": "SIM Card",
"itemtext1_label": "ICCID",
"itemtext2_label": "IMSI",
"wholesale_cost": 0.2,
"retail_cost": 1,
"allow_dropdown_staff": True,
"allow_dropdown_customer": True,
"icon": "fa-solid fa-sim-card"
})

# Definir plantilla de inventario de número móvil
inventory_list_new.append({
"item": "Mobile Number",
"itemtext1_label": "E.164 Mobile Number",
"itemtext2_label": "Type",
"wholesale_cost": 0.2,
"retail_cost": 3,
"icon": "fa-solid fa-phone"
})

# Verificar si existe la plantilla de inventario, crear o actualizar
for inventory_template in inventory_list_new:
    # Obtener plantillas existentes
    inventory_list_existing = session.get(
        crm_url + '/crm/inventory/item_template/',
        headers=headers
    )

    # Verificar si la plantilla ya existe
    if inventory_template['item'] in [x['item'] for x in inventory_list_existing.json()]:
        # Actualizar plantilla existente
        inventory_template_id = [
            x['inventory_template_id']
            for x in inventory_list_existing.json()
            if x['item'] == inventory_template['item']
        ][0]

        response = session.patch(
            crm_url + '/crm/inventory/item_template/' + str(inventory_template_id),
            json=inventory_template,
            headers=headers
        )
        assert response.status_code == 200
        print(f"Plantilla de inventario actualizada: {inventory_template['item']}")
    else:
        # Crear nueva plantilla
        response = session.put(
            crm_url + '/crm/inventory/item_template',
            json=inventory_template,
            headers=headers
        )
        assert response.status_code == 200
        print(f"Plantilla de inventario creada: {inventory_template['item']}")

product_list_new = []

product_list_new.append({
"category": "standalone",
"provisioning_play": "play_psim_only",
"relies_on_list": "",
"contract_days": 0,
"retail_cost": 0,
"retail_setup_cost": 0,
"product_slug": "Mobile-SIM",
"product_name": "Mobile SIM Only",
"comment": "Tarjeta SIM física para uso con teléfonos móviles",
"provisioning_json_vars": "{\"iccid\" : \"\", \"msisdn\" : \"\"}",
"terms": "Debe activarse dentro de 6 meses. Todo el crédito se pierde si el servicio no se utiliza durante 12 meses.",
"service_type": "mobile",
"residential": True,
"business": True,
"enabled": True,
"inventory_items_list": "['SIM Card', 'Mobile Number']",
"icon": "fa-solid fa-sim-card",
"features_list": "['Número de teléfono australiano (61xxx)', 'Las velocidades más rápidas', 'Mejor cobertura']",
"wholesale_cost": 3,
"wholesale_setup_cost": 1,
"customer_can_purchase": True
})

product_list_new.append({
"category": "addon",
"provisioning_play": "play_topup_charge_then_action",
"relies_on_list": "",
"contract_days": 30,
"retail_cost": 59.00,
"retail_setup_cost": 0,
"product_slug": "au-premium-plan-1", # Se vincula a Action_au-premium-plan-1
"product_name": "AU Premium Plan 1",
"comment": "100GB de datos en Australia, 3000 minutos en Australia, 3000 SMS en Australia, 6GB de datos en roaming",
"provisioning_json_vars": "",
"terms": "Plan postpago. Se renueva automáticamente cada 30 días.",
"service_type": "mobile",
"residential": True,
"business": True,
"enabled": True,
"icon": "fa-solid fa-mobile",
"features_list": "['100GB de datos en Australia', '3000 minutos en Australia', '3000 SMS en Australia', '6GB de datos en roaming']",
"wholesale_cost": 45.00,
"wholesale_setup_cost": 0,
"auto_renew": "True",
"customer_can_purchase": True
})

product_list_new.append({
"category": "addon",
"provisioning_play": "play_topup_charge_then_action",
"relies_on_list": "",
"contract_days": 0,
"retail_cost": 30,
"retail_setup_cost": 0,
"product_slug": "au-data-addon-20gb", # Se vincula a Action_au-data-addon-20gb
"product_name": "AU Data Addon 20GB",
"comment": "20GB de datos en Australia",
"provisioning_json_vars": "",
"terms": "Recarga prepaga. Carga inmediata.",
"service_type": "mobile",
"residential": True,
"business": True,
"enabled": True,
"icon": "fa-solid fa-mobile",
"features_list": "['20GB de datos en Australia']",
"wholesale_cost": 22,
"wholesale_setup_cost": 0,
"auto_renew": "False",
"customer_can_purchase": True
})

# Obtener productos existentes
product_list_existing = session.get(crm_url + '/crm/product', headers=headers)
existing_products = product_list_existing.json()

# Procesar cada producto
for product in product_list_new:
    print(f"Procesando producto: {product['product_slug']}")

    # Verificar si el producto ya existe
    if product['product_slug'] in [x['product_slug'] for x in existing_products]:
        print(f"El producto ya existe: {product['product_slug']}")

        # Obtener product_id del producto existente
        product_id = [
            x['product_id']
            for x in existing_products
            if x['product_slug'] == product['product_slug']
        ][0]

        product['product_id'] = product_id

        # Actualizar producto existente
        response = session.patch(
            crm_url + '/crm/product/' + str(product_id),
            json=product,
            headers=headers
        )
        print(f"Estado: {response.status_code}")
        assert response.status_code == 200
        print(f"Producto actualizado: {product['product_slug']}")
    else:
        # Crear nuevo producto
        print(f"Creando nuevo producto: {product['product_slug']}")
        response = session.put(
            crm_url + '/crm/product',
            json=product,
            headers=headers
        )
        print(f"Estado: {response.status_code}")
        assert response.status_code == 200
        print(f"Producto creado: {product['product_slug']}")
